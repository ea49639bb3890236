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

/**
 * Sends an error as `application/problem+json` (RFC 9457). Credential errors carry
 * the RFC 6750 challenge. The body holds only the catalog title and our own safe
 * message: never the credential.
 */
export function sendError(res: ServerResponse, err: GatehouseError, opts: ErrorResponseOptions): void {
  if (res.headersSent) {
    // Too late for a status line: cut the response so the client sees a failure, not a truncated success.
    res.destroy();
    return;
  }
  const body = JSON.stringify(problemDetails(err, opts.requestId));
  const headers: Record<string, string> = {
    'content-type': 'application/problem+json',
    'content-length': String(Buffer.byteLength(body)),
    'cache-control': 'no-store',
  };
  if (isCredentialError(err)) headers['www-authenticate'] = wwwAuthenticate(err, opts.realm);
  if (opts.requestId) headers['x-request-id'] = opts.requestId;
  if (opts.hsts) headers['strict-transport-security'] = opts.hsts;
  if (opts.allow !== undefined) headers.allow = opts.allow;
  if (opts.close) headers.connection = 'close';
  res.writeHead(err.status, headers);
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
 */
export function writeRawError(socket: Socket, err: GatehouseError, hsts?: string): void {
  if (!socket.writable || socket.bytesWritten > 0) {
    socket.destroy();
    return;
  }
  const body = JSON.stringify(problemDetails(err));
  const head =
    `HTTP/1.1 ${err.status} ${err.title}\r\n` +
    'content-type: application/problem+json\r\n' +
    `content-length: ${Buffer.byteLength(body)}\r\n` +
    'cache-control: no-store\r\n' +
    (hsts ? `strict-transport-security: ${hsts}\r\n` : '') +
    'connection: close\r\n\r\n';
  socket.end(head + body);
  socket.resume();
  // Bound how long a client that never closes can keep this socket.
  setTimeout(() => socket.destroy(), 5000).unref();
}
