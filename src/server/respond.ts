import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { GatehouseError, problemDetails, wwwAuthenticate } from '../errors.js';

/** What an error response needs besides the error itself. */
export interface ErrorResponseOptions {
  readonly realm: string;
  readonly requestId?: string;
  /** `Strict-Transport-Security` value on HTTPS listeners. */
  readonly hsts?: string;
  /** Value of `Allow` on a 405. */
  readonly allow?: string;
  /** Ask the client to close: used when the request body was not read. */
  readonly close?: boolean;
}

/** The parts of an error response that do not depend on the request. */
interface ErrorTemplate {
  /** Flat `[name, value, …]`: content type, cache control, challenge, Retry-After, HSTS, Allow, Connection. */
  readonly headers: readonly string[];
  /** The problem+json body without its closing brace, before any request id. */
  readonly bodyStart: string;
}

// Errors come from our catalog with our own messages, so few distinct templates
// exist; the bound only guards against a message that varies without limit.
const MAX_TEMPLATES = 256;
const templates = new Map<string, ErrorTemplate>();

function templateFor(err: GatehouseError, opts: ErrorResponseOptions): ErrorTemplate {
  const key = `${err.code}\0${err.message}\0${opts.realm}\0${opts.hsts ?? ''}\0${opts.allow ?? ''}\0${opts.close === true}`;
  let t = templates.get(key);
  if (t !== undefined) return t;
  const headers = ['content-type', 'application/problem+json', 'cache-control', 'no-store'];
  if (isCredentialError(err)) headers.push('www-authenticate', wwwAuthenticate(err, opts.realm));
  if (err.retryAfterSeconds !== undefined) headers.push('retry-after', String(err.retryAfterSeconds));
  if (opts.hsts) headers.push('strict-transport-security', opts.hsts);
  if (opts.allow !== undefined) headers.push('allow', opts.allow);
  if (opts.close) headers.push('connection', 'close');
  const body = JSON.stringify(problemDetails(err));
  t = { headers, bodyStart: body.slice(0, -1) };
  if (templates.size >= MAX_TEMPLATES) templates.clear();
  templates.set(key, t);
  return t;
}

/**
 * Sends an error as `application/problem+json` (RFC 9457). Credential errors carry
 * the RFC 6750 challenge. The body holds only the catalog title and our own safe
 * message: never the credential.
 *
 * The parts that do not depend on the request (challenge, body up to the
 * request id) are built once per kind of error: a flood of bad tokens is the
 * path an attacker drives at will. `extraHeaders` (e.g. a cleared session
 * cookie) are sent as well.
 */
export function sendError(res: ServerResponse, err: GatehouseError, opts: ErrorResponseOptions, extraHeaders?: readonly string[]): void {
  if (res.headersSent) {
    // Too late for a status line: cut the response so the client sees a failure, not a truncated success.
    res.destroy();
    return;
  }
  const t = templateFor(err, opts);
  // The same JSON problemDetails(err, requestId) gives: requestId is its last member, when present.
  const body = opts.requestId ? `${t.bodyStart},"requestId":${JSON.stringify(opts.requestId)}}` : `${t.bodyStart}}`;
  const own = [...t.headers, 'content-length', String(Buffer.byteLength(body))];
  if (opts.requestId) own.push('x-request-id', opts.requestId);
  if (res.getHeaderNames().length > 0) {
    // Headers set on the response beforehand: merge as writeHead(status, object) would, ours winning.
    if (extraHeaders !== undefined) for (let i = 0; i + 1 < extraHeaders.length; i += 2) res.appendHeader(extraHeaders[i] as string, extraHeaders[i + 1] as string);
    for (let i = 0; i + 1 < own.length; i += 2) res.setHeader(own[i] as string, own[i + 1] as string);
    res.writeHead(err.status);
  } else {
    if (extraHeaders !== undefined) for (let i = 0; i < extraHeaders.length; i++) own.push(extraHeaders[i] as string);
    res.writeHead(err.status, own);
  }
  res.end(body);
}

/** 401s always challenge; 400/403 challenge when the error is an RFC 6750 bearer error. */
function isCredentialError(err: GatehouseError): boolean {
  return err.status === 401 || err.bearerError !== undefined;
}

/**
 * Writes a complete error response straight onto a socket, for failures Node
 * reports before a request object exists (oversized headers, malformed requests).
 * Half-closes afterwards and keeps reading, so the unread rest of the request
 * does not turn the close into a TCP reset that would swallow the response.
 *
 * Only on a fresh connection. Behind a pipelined request still being answered,
 * bytes written now would be read as that request's answer (the upstream has
 * run it; a client retrying after the "400" runs it twice): the connection
 * stops reading instead, and closes once the answers under way are complete.
 * On a connection that already carried answers and is idle, it closes
 * unanswered, as Node does. Returns whether the answer was written.
 */
export function writeRawError(socket: Socket, err: GatehouseError, hsts?: string): boolean {
  if (earlierAnswerInFlight(socket)) {
    socket.pause();
    closeWhenAnswered(socket);
    return false;
  }
  if (!socket.writable || socket.bytesWritten > 0) {
    socket.destroy();
    return false;
  }
  const body = JSON.stringify(problemDetails(err));
  const head =
    `HTTP/1.1 ${err.status} ${err.title}\r\n` +
    'content-type: application/problem+json\r\n' +
    `content-length: ${Buffer.byteLength(body)}\r\n` +
    'cache-control: no-store\r\n' +
    (hsts ? `strict-transport-security: ${hsts}\r\n` : '') +
    'connection: close\r\n\r\n';
  endWithin(socket, head + body);
  socket.resume();
  return true;
}

/** Half-closes, bounding how long a client that never closes can keep the socket. */
function endWithin(socket: Socket, data = ''): void {
  socket.end(data);
  setTimeout(() => socket.destroy(), 5000).unref();
}

/**
 * Whether node:http is still answering a request that came before the one this
 * error is about. It attaches the response it is writing as `_httpMessage` and
 * detaches it when that one has finished (pipelined answers queue behind it);
 * not in Node's typings, but what node:http itself relies on, and a test pins
 * the behaviour. While that request's own body is still arriving, the error is
 * about it (a request timeout, a broken chunk), and it gets the answer.
 */
function earlierAnswerInFlight(socket: Socket): boolean {
  return attachedResponse(socket)?.req.complete === true;
}

/** Whether node:http has handed a request on this connection to the request handler and not finished answering it. */
export function hasRequestInHandler(socket: Socket): boolean {
  return attachedResponse(socket) !== undefined;
}

function attachedResponse(socket: Socket): ServerResponse | undefined {
  return (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage ?? undefined;
}

/**
 * Ends the connection after the response being written, and any pipelined
 * behind it (node:http attaches the next one as the previous finishes, before
 * its 'close' event), have been sent.
 */
function closeWhenAnswered(socket: Socket): void {
  const response = attachedResponse(socket);
  if (response === undefined) return endWithin(socket);
  response.once('close', () => closeWhenAnswered(socket));
}
