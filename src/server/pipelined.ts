import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from '../log.js';

/**
 * How many requests one connection may have waiting behind the one being
 * answered. Clients that pipeline at all send a few; more than this is a
 * client queueing work for the gateway to hold.
 */
export const MAX_WAITING_REQUESTS = 16;

/** Requests parsed on a connection and not yet started, per connection. */
const waiting = new WeakMap<Socket, number>();

/** Whether requests are parsed on `socket` and waiting for the answer being written to finish. */
export function hasWaiting(socket: Socket): boolean {
  return (waiting.get(socket) ?? 0) > 0;
}

/**
 * Starts a request pipelined behind one whose answer is still being written
 * once that answer is done. node:http parses pipelined requests as they arrive
 * and emits each at once; it queues only their responses, attaching each to
 * the socket when the one before has finished (`res.socket` is null until
 * then). Started at once, all of them would go upstream together: one
 * connection would hold as many pooled upstream connections as it pipelines
 * requests, and keep them all by not reading. In turn, a connection has one
 * request upstream at a time, like a client that does not pipeline.
 *
 * A connection with more than {@link MAX_WAITING_REQUESTS} waiting is closed:
 * they have been parsed already, so no longer reading from it would not bound
 * them, and an answer the client will not get cannot be sent in their place.
 */
export function startInTurn(req: IncomingMessage, res: ServerResponse, start: () => void, logger: Logger): void {
  const socket = req.socket;
  // node:http still hands over the rest of what it parsed after a close.
  if (socket.destroyed) return;
  const count = (waiting.get(socket) ?? 0) + 1;
  if (count > MAX_WAITING_REQUESTS) {
    logger.warn({ waiting: count - 1 }, 'a connection pipelined more requests than the gateway holds: closed');
    socket.destroy();
    return;
  }
  waiting.set(socket, count);
  res.once('socket', () => {
    waiting.set(socket, (waiting.get(socket) ?? 1) - 1);
    start();
  });
}
