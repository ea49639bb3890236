import type { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { Client, Pool, type Dispatcher } from 'undici';
import { GatehouseError } from '../errors.js';
import type { Logger } from '../log.js';
import { ConnectionGate, type GatedRequest } from './connection-gate.js';
import { buildDownstreamHeaders, dropContentLength, makeUncacheable } from './forwarded-headers.js';

/** Why an upstream exchange failed, for metrics. */
export type UpstreamFailureKind = 'connect' | 'timeout' | 'reset' | 'body_too_large' | 'bad_response' | 'aborted';

/** Told how an upstream exchange ended; the request handler implements it. */
export interface UpstreamObserver {
  /** Shutdown began and nothing waits behind this request: the answer asks the client to close the connection. */
  readonly endsConnection: boolean;
  upstreamDone(): void;
  /** `err` is undefined when nothing more can be sent to the client (headers already out, or it left). */
  upstreamFailed(kind: UpstreamFailureKind, err: GatehouseError | undefined): void;
}

/** One upstream origin: its keep-alive pool, and the gate that bounds the wait for one of its connections. */
export interface Upstream {
  readonly pool: Dispatcher;
  readonly gate: ConnectionGate;
}

/** One forwarded request. */
export interface UpstreamRequest {
  readonly upstream: Upstream;
  readonly path: string;
  readonly headers: string[];
  readonly timeoutMs: number;
  /** The longest the client may take none of the response (`limits.sendTimeoutMs`). */
  readonly sendTimeoutMs: number;
  readonly maxBodyBytes: number;
  /** Added to every response, e.g. HSTS and the request id. */
  readonly extraResponseHeaders: readonly string[];
  /** The extra headers set a cookie (a session): no cache may store the response. */
  readonly setsCookie?: boolean;
}

/**
 * Forwards a request and streams both bodies without buffering: the request
 * body goes to undici as the inbound stream itself (counted on the way when it
 * is chunked), the response is written chunk by chunk with backpressure (undici
 * pauses the upstream socket while the client is slow, until the client has
 * taken nothing for the send timeout).
 *
 * Returns the abort function for the client-went-away case.
 */
export function forwardRequest(req: IncomingMessage, res: ServerResponse, up: UpstreamRequest, observer: UpstreamObserver): ProxyHandler {
  let body: Dispatcher.DispatchOptions['body'] = null;
  const contentLength = req.headers['content-length'];
  // The parser enforces Content-Length, so such bodies need no counting; chunked ones do.
  // undici takes any async iterable as a body; its types list only the concrete kinds.
  if (req.headers['transfer-encoding'] !== undefined) body = limitBody(req, up.maxBodyBytes) as unknown as Readable;
  else if (contentLength !== undefined && contentLength !== '0') body = req;
  const options: Dispatcher.DispatchOptions = {
    path: up.path,
    method: req.method as Dispatcher.HttpMethod,
    headers: up.headers,
    body,
    headersTimeout: up.timeoutMs,
    bodyTimeout: up.timeoutMs,
  };
  const handler = new ProxyHandler(res, up.extraResponseHeaders, observer, up.sendTimeoutMs, up.setsCookie === true, up.upstream, options);
  // With every connection to the origin busy (`limits.upstreamConnections`), the request waits for
  // one at most the route's timeout (undici's timeouts start only once it is sent): one slow
  // endpoint must not hold every route to its origin for as long as it likes.
  up.upstream.gate.enter(handler, up.timeoutMs);
  return handler;
}

class BodyTooLarge extends Error {
  readonly code = 'GH_BODY_TOO_LARGE';
}

/** An upstream response the gateway cannot pass on faithfully. */
class UnrelayableResponse extends Error {}

async function* limitBody(req: IncomingMessage, maxBytes: number): AsyncGenerator<Buffer> {
  let total = 0;
  // Leaving a plain `for await` destroys the stream, and Node then unhooks the request from
  // its socket while the 413 is still to be written; left whole, the request keeps its
  // socket, and the unread rest of the body goes when the connection closes after the 413.
  for await (const chunk of req.iterator({ destroyOnReturn: false })) {
    total += (chunk as Buffer).length;
    if (total > maxBytes) throw new BodyTooLarge('request body too large');
    yield chunk as Buffer;
  }
}

/**
 * undici's handler interface in its native (callback) form: the newer controller
 * form is adapted onto this one inside undici, costing a parsed header object and
 * a controller per request.
 */
export class ProxyHandler implements Dispatcher.DispatchHandler, GatedRequest {
  private abortUpstream: ((err?: Error) => void) | undefined;
  private resumeUpstream: (() => void) | undefined;
  private stalled: NodeJS.Timeout | undefined;
  /** The client connection's backlog when the stall timer was last armed: see {@link ProxyHandler.progressed}. */
  private stallChunks = 0;
  private stallBytes = 0;
  private finished = false;
  /** Sent through the gate and not yet ended: it holds one of the origin's connections. */
  private holdsConnection = false;
  waitTimer: NodeJS.Timeout | undefined = undefined;

  constructor(
    private readonly res: ServerResponse,
    private readonly extraHeaders: readonly string[],
    private readonly observer: UpstreamObserver,
    /** The longest the client may take none of the response (`limits.sendTimeoutMs`). */
    private readonly stallTimeoutMs: number,
    private readonly setsCookie: boolean,
    private readonly upstream: Upstream,
    private options: Dispatcher.DispatchOptions | undefined,
  ) {}

  /** Admitted by the gate: undici now calls exactly one of onComplete and onError. */
  send(): void {
    this.holdsConnection = true;
    const options = this.options as Dispatcher.DispatchOptions;
    this.options = undefined; // its header list is not kept for the whole exchange
    this.upstream.pool.dispatch(options, this);
  }

  /** No connection came free in time: 504, and the request is never sent. */
  waitTimedOut(): void {
    if (this.finished) return;
    this.finished = true;
    this.observer.upstreamFailed('timeout', new GatehouseError('GH_UPSTREAM_TIMEOUT', 'no upstream connection came free in time'));
  }

  /** The client went away: stop the upstream exchange too. */
  abort(): void {
    if (this.finished) return;
    this.finished = true;
    clearTimeout(this.stalled);
    if (!this.holdsConnection) this.upstream.gate.cancel(this);
    this.abortUpstream?.(new Error('client closed the connection'));
    this.observer.upstreamFailed('aborted', undefined);
  }

  /** Ends this request's hold on its connection, once, whatever way it ended. */
  private leaveGate(): void {
    if (!this.holdsConnection) return;
    this.holdsConnection = false;
    this.upstream.gate.leave();
  }

  onConnect(abort: (err?: Error) => void): void {
    // The client left while the request waited for its connection (handed over by the gate, it waits
    // one turn more in undici's queue, where abort() cannot reach it). Refused by a throw here, undici
    // drops it unsent and keeps the connection; calling `abort` would destroy that connection.
    if (this.finished) throw new Error('client closed the connection');
    this.abortUpstream = abort;
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    // 1xx: Node answers Expect itself; informational responses are not relayed.
    if (statusCode < 200 || this.finished) return true;
    const headers = buildDownstreamHeaders(rawHeaders);
    if (headers === undefined) {
      // undici calls onError with this before anything reaches the client: a 502.
      this.abortUpstream?.(new UnrelayableResponse('the upstream answered with a transfer coding the gateway does not relay'));
      return false;
    }
    // Only when a cookie is added (a refresh, a re-seal): the common response is passed on as it came.
    if (this.setsCookie) makeUncacheable(headers);
    // A 304 may state the length of what it stands for; a 204 may state none.
    if (statusCode === 204) dropContentLength(headers);
    // The upstream answers before the client has sent all of its body. undici stops sending a body
    // once the answer is complete, so the rest may never be read, and the client's next request on
    // this connection would wait behind it until the request timeout: the connection closes after
    // this answer (RFC 9112 §9.6), which also tells the client to stop sending.
    // Likewise while the gateway drains, so a keep-alive client sends its next request elsewhere.
    if (!this.res.req.complete || this.observer.endsConnection) this.res.shouldKeepAlive = false;
    for (let i = 0; i < this.extraHeaders.length; i++) headers.push(this.extraHeaders[i] as string);
    this.resumeUpstream = resume;
    this.res.writeHead(statusCode, headers);
    if (statusCode === 204 || statusCode === 304) {
      // No body follows, whatever Content-Length says (RFC 9110 §8.6 lets a 304 carry the length of
      // the representation). undici fails such an exchange as a length mismatch (and closes that
      // upstream connection), which would cut the client's connection after the status line: the
      // answer is complete here.
      this.finished = true;
      this.res.end();
      this.observer.upstreamDone();
    }
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.finished) return true;
    if (this.res.write(chunk)) return true;
    this.res.once('drain', this.onDrain);
    // undici's body timeout does not run while it is paused: without this, a client that stops
    // reading would hold the pooled upstream connection for as long as it keeps its own open.
    this.progressed();
    this.stalled = setTimeout(this.onStalled, this.stallTimeoutMs);
    return false;
  }

  private readonly onDrain = (): void => {
    clearTimeout(this.stalled);
    this.stalled = undefined;
    this.resumeUpstream?.();
  };

  /**
   * The client took nothing for the send timeout: the response is cut, and the
   * pooled upstream connection it held is freed. The client's doing, so it counts
   * as the client leaving (499 in the access log), not as an upstream error.
   */
  private readonly onStalled = (): void => {
    if (this.finished) return;
    // 'drain' waits for the whole backlog: a client reading slowly but steadily can take longer
    // than the timeout to empty it without ever pausing that long. Any of it gone is progress
    // (as far as the kernel shows it: see progressed).
    if (this.progressed()) {
      this.stalled = setTimeout(this.onStalled, this.stallTimeoutMs);
      return;
    }
    this.res.off('drain', this.onDrain);
    this.abort();
    this.res.destroy();
  };

  /**
   * Whether the client took any of the backlog since the last call, which
   * records it. The stream's `writableLength` drops only when the kernel took
   * a whole chunk (64 KiB from undici); the handle's `writeQueueSize` (libuv's
   * unsent bytes, kept by TCP and TLS handles alike) with every part of one.
   * Either moves only when the kernel's send buffer has room again, which it
   * reports once a share of it is free: with large socket buffers a client
   * reading slowly shows progress every few seconds, hence a send timeout of
   * its own, generous like nginx's `send_timeout`, not the upstream's.
   */
  private progressed(): boolean {
    const socket = this.res.socket as (ServerResponse['socket'] & { _handle?: { writeQueueSize?: number } | null }) | null;
    const chunks = socket?.writableLength ?? 0;
    const bytes = socket?._handle?.writeQueueSize ?? 0;
    const moved = chunks < this.stallChunks || bytes < this.stallBytes;
    this.stallChunks = chunks;
    this.stallBytes = bytes;
    return moved;
  }

  onComplete(): void {
    this.leaveGate();
    if (this.finished) return;
    this.finished = true;
    clearTimeout(this.stalled);
    this.res.end();
    this.observer.upstreamDone();
  }

  onError(err: Error): void {
    this.leaveGate();
    if (this.finished) return;
    this.finished = true;
    clearTimeout(this.stalled);
    const kind = failureKind(err);
    if (this.res.headersSent) {
      this.res.destroy();
      this.observer.upstreamFailed(kind, undefined);
      return;
    }
    this.observer.upstreamFailed(kind, toGatehouseError(kind));
  }
}

function failureKind(err: Error): UpstreamFailureKind {
  if (err instanceof BodyTooLarge) return 'body_too_large';
  if (err instanceof UnrelayableResponse) return 'bad_response';
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') return 'timeout';
  if (code === 'ECONNREFUSED' || code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'ENOTFOUND' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH') {
    return 'connect';
  }
  return 'reset';
}

function toGatehouseError(kind: UpstreamFailureKind): GatehouseError {
  switch (kind) {
    case 'timeout':
      return new GatehouseError('GH_UPSTREAM_TIMEOUT', 'the upstream did not answer in time');
    case 'body_too_large':
      return new GatehouseError('GH_BODY_TOO_LARGE', 'request body exceeds the limit of this route');
    case 'connect':
      return new GatehouseError('GH_UPSTREAM_UNAVAILABLE', 'the upstream could not be reached');
    case 'bad_response':
      return new GatehouseError('GH_UPSTREAM_UNAVAILABLE', 'the upstream answered with a transfer coding the gateway does not relay');
    default:
      return new GatehouseError('GH_UPSTREAM_UNAVAILABLE', 'the upstream connection failed');
  }
}

/** Keep-alive pools, one per upstream origin, shared by every route (and kept across reloads). */
export class UpstreamPools {
  private readonly pools = new Map<string, { readonly pool: Pool; readonly gate: ConnectionGate }>();

  constructor(private readonly opts: { connections: number; connectTimeoutMs: number; logger: Logger }) {}

  get(origin: string): Upstream {
    let upstream = this.pools.get(origin);
    if (!upstream) {
      const logger = this.opts.logger;
      const pool = new Pool(origin, {
        connections: this.opts.connections,
        connect: { timeout: this.opts.connectTimeoutMs },
        // Timeouts are per request (route `timeoutMs`); these are only the defaults.
        keepAliveTimeout: 4000,
        // undici re-emits a throw from a handler callback as 'error' on the connection's Client,
        // which the Pool does not listen for: unheard, it would end the process. The request it
        // belonged to has failed already; the gateway logs the fault and serves on.
        factory: (o, clientOpts) => {
          const client = new Client(o, clientOpts);
          // undici's typings list only the events it emits by design.
          (client as unknown as EventEmitter).on('error', (err: unknown) => logger.error({ err, origin }, 'an upstream request handler failed'));
          return client;
        },
      });
      upstream = { pool, gate: new ConnectionGate(this.opts.connections) };
      this.pools.set(origin, upstream);
    }
    return upstream;
  }

  /** After a reload: close the pools no route uses any more (in-flight requests finish first). */
  async retainOnly(origins: ReadonlySet<string>): Promise<void> {
    const closing: Promise<void>[] = [];
    for (const [origin, { pool, gate }] of this.pools) {
      if (origins.has(origin)) continue;
      this.pools.delete(origin);
      gate.drop(); // none wait in practice: a waiting request keeps its configuration, and so the origin, live
      closing.push(pool.close());
    }
    await Promise.all(closing);
  }

  /** Graceful: waits for running requests. */
  async close(): Promise<void> {
    const pools = [...this.pools.values()];
    this.pools.clear();
    for (const p of pools) p.gate.drop();
    await Promise.all(pools.map((p) => p.pool.close()));
  }

  /** Forceful: fails running requests. */
  async destroy(): Promise<void> {
    const pools = [...this.pools.values()];
    this.pools.clear();
    for (const p of pools) p.gate.drop();
    await Promise.all(pools.map((p) => p.pool.destroy()));
  }
}
