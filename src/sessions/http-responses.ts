import type { ServerResponse } from 'node:http';
import type { GatehouseError } from '../errors.js';
import { sendError } from '../server/respond.js';

/** What the gateway adds to every answer, the `/auth` endpoints' included. */
export interface ResponseEnv {
  /** Sent back as `x-request-id`, as on routes. */
  readonly requestId: string;
  /** The realm of the `WWW-Authenticate` challenge on a 401. */
  readonly realm: string;
  /** `Strict-Transport-Security` on an HTTPS listener. */
  readonly hsts: string | undefined;
}

// Responses of the /auth endpoints: never cached, cookies set on every outcome. They carry the
// headers every other gateway answer carries: a browser that only ever reached /auth over HTTPS
// must still learn HSTS there, and a 401 must challenge (RFC 9110 §15.5.2).

/** Flat `[name, value, …]`: the gateway's own headers, then the cookies this answer sets. */
function ownHeaders(env: ResponseEnv, setCookies: readonly string[]): string[] {
  const headers = ['cache-control', 'no-store', 'x-request-id', env.requestId];
  if (env.hsts) headers.push('strict-transport-security', env.hsts);
  for (const c of setCookies) headers.push('set-cookie', c);
  return headers;
}

export function redirect(res: ServerResponse, env: ResponseEnv, location: string, setCookies: readonly string[], status = 302): void {
  res.writeHead(status, ['location', location, 'content-length', '0', ...ownHeaders(env, setCookies)]);
  res.end();
}

export function sendJson(res: ServerResponse, env: ResponseEnv, status: number, body: unknown, setCookies: readonly string[]): void {
  const text = JSON.stringify(body);
  res.writeHead(status, ['content-type', 'application/json', 'content-length', String(Buffer.byteLength(text)), 'pragma', 'no-cache', ...ownHeaders(env, setCookies)]);
  res.end(text);
}

export function sendNoContent(res: ServerResponse, env: ResponseEnv, setCookies: readonly string[]): void {
  res.writeHead(204, ownHeaders(env, setCookies));
  res.end();
}

/**
 * RFC 9457 problem details with the error's code, through the gateway's own
 * error writer, so the challenge, HSTS and request id are the ones routes send.
 * The message is ours and never holds a credential.
 */
export function sendProblem(res: ServerResponse, env: ResponseEnv, err: GatehouseError, setCookies: readonly string[], allow?: string): void {
  sendError(res, err, { realm: env.realm, requestId: env.requestId, hsts: env.hsts, allow }, setCookies.flatMap((c) => ['set-cookie', c]));
}
