import type { ServerResponse } from 'node:http';
import { problemDetails, type GatehouseError } from '../errors.js';

// Responses of the /auth endpoints: never cached, cookies set on every outcome.

export function redirect(res: ServerResponse, location: string, setCookies: readonly string[], status = 302): void {
  res.writeHead(status, { location, 'cache-control': 'no-store', 'content-length': '0', ...(setCookies.length ? { 'set-cookie': [...setCookies] } : {}) });
  res.end();
}

export function sendJson(res: ServerResponse, status: number, body: unknown, setCookies: readonly string[]): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength(text)),
    'cache-control': 'no-store',
    pragma: 'no-cache',
    ...(setCookies.length ? { 'set-cookie': [...setCookies] } : {}),
  });
  res.end(text);
}

/** RFC 9457 problem details with the error's code; the message is ours and never holds a credential. */
export function sendProblem(res: ServerResponse, err: GatehouseError, setCookies: readonly string[], allow?: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const text = JSON.stringify(problemDetails(err));
  res.writeHead(err.status, {
    'content-type': 'application/problem+json',
    'content-length': String(Buffer.byteLength(text)),
    'cache-control': 'no-store',
    ...(allow ? { allow } : {}),
    ...(setCookies.length ? { 'set-cookie': [...setCookies] } : {}),
  });
  res.end(text);
}
