import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import {
  asGatehouseError,
  CHALLENGE_REALM_RULE,
  GatehouseError,
  InsufficientScope,
  isChallengeRealm,
  isScopeToken,
  problemDetails,
  SCOPE_TOKEN_RULE,
  wwwAuthenticate,
} from '../errors.js';
import type { Identity } from '../tokens/identity.js';
import type { TokenVerifier } from '../tokens/jwt/options.js';
import { looksLikeJwt } from '../tokens/jwt/parse.js';
import { refuse } from '../tokens/jwt/reject.js';

/**
 * Options shared by every `requireToken*` middleware.
 *
 * @example
 * ```ts
 * requireToken(verifier, { scopes: ['orders:read', 'orders:write'], realm: 'orders' });
 * ```
 */
export interface RequireTokenOptions {
  /** Scopes that must all be granted (403 `insufficient_scope` otherwise); each a scope-token (RFC 6749 §3.3: printable ASCII without spaces, `"` or `\`). */
  readonly scopes?: readonly string[];
  /** Realm of the `WWW-Authenticate` challenge: printable ASCII without `"` or `\`. Default `service`. */
  readonly realm?: string;
}

/** {@link RequireTokenOptions} checked, with the defaults filled in. */
export interface GuardOptions {
  readonly scopes: readonly string[];
  readonly realm: string;
}

const DEFAULT_REALM = 'service';

/**
 * Checks the options of a guard once, when it is built, and returns them frozen.
 * Throws a TypeError naming the option: a realm the challenge cannot carry (Node's
 * writeHead throws on a character above U+00FF, from a promise callback, ending the
 * service at its first refusal), or a scope no token could be granted (`read write`:
 * scope strings are split on spaces).
 *
 * @example
 * ```ts
 * guardOptions({ realm: 'orders', scopes: ['orders:read'] }); // { realm: 'orders', scopes: ['orders:read'] }
 * guardOptions({ scopes: ['orders:read orders:write'] });     // throws TypeError: options.scopes[0] …
 * ```
 */
export function guardOptions(opts: RequireTokenOptions | undefined): GuardOptions {
  const problem = optionsProblem(opts);
  if (problem !== undefined) throw new TypeError(`Gatehouse kit: ${problem}`);
  return Object.freeze({ scopes: Object.freeze([...(opts?.scopes ?? [])]), realm: opts?.realm ?? DEFAULT_REALM });
}

function optionsProblem(opts: RequireTokenOptions | undefined): string | undefined {
  if (opts === undefined) return undefined;
  if (opts === null || typeof opts !== 'object') return 'options must be an object';
  const { scopes, realm } = opts as { scopes?: unknown; realm?: unknown };
  if (scopes !== undefined) {
    if (!Array.isArray(scopes)) return `options.scopes must be an array of scopes, got ${shown(scopes)}`;
    const bad = scopes.findIndex((s) => !isScopeToken(s));
    if (bad >= 0) return `options.scopes[${bad}] must be ${SCOPE_TOKEN_RULE}, got ${shown(scopes[bad])}`;
  }
  if (realm !== undefined && !isChallengeRealm(realm)) return `options.realm must be ${CHALLENGE_REALM_RULE}, got ${shown(realm)}`;
  return undefined;
}

function shown(value: unknown): string {
  if (typeof value !== 'string') return value === null ? 'null' : typeof value;
  return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value);
}

/**
 * What a failed check answers: status, headers and an RFC 9457 body.
 *
 * @example
 * ```ts
 * if (!result.ok) res.writeHead(result.rejection.status, result.rejection.headers).end(result.rejection.body);
 * ```
 */
export interface Rejection {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
  readonly error: GatehouseError;
}

/**
 * The outcome of checking one request's credentials.
 *
 * @example
 * ```ts
 * const result: GuardResult = await checkRequest(verifier, req.headers, req.rawHeaders, {});
 * ```
 */
export type GuardResult = { readonly ok: true; readonly identity: Identity } | { readonly ok: false; readonly rejection: Rejection };

// RFC 6750 §2.1 b64token.
const TOKEN68 = /^[A-Za-z0-9\-._~+/]+=*$/;

/**
 * The framework-free core of the middlewares: reads `Authorization: Bearer`,
 * verifies, checks scopes, and says what to answer on failure. Never throws:
 * options {@link guardOptions} would refuse make every answer a 500
 * `GH_INTERNAL` rejection whose {@link internalCause} is that TypeError (check
 * them once with `guardOptions` to learn it at start instead).
 * `rawHeaders` (when the framework exposes it) lets duplicate Authorization
 * headers be refused; Node keeps only the first in `headers`.
 *
 * @example
 * ```ts
 * // In a framework the kit has no middleware for:
 * const result = await checkRequest(verifier, req.headers, req.rawHeaders, { scopes: ['admin'] });
 * if (result.ok) ctx.state.identity = result.identity;
 * else { ctx.status = result.rejection.status; ctx.set(result.rejection.headers); ctx.body = result.rejection.body; }
 * ```
 */
export async function checkRequest(
  verifier: TokenVerifier,
  headers: IncomingHttpHeaders,
  rawHeaders: readonly string[] | undefined,
  opts: RequireTokenOptions,
): Promise<GuardResult> {
  let checked: GuardOptions;
  try {
    checked = guardOptions(opts);
  } catch (err) {
    return { ok: false, rejection: rejection(new GatehouseError('GH_INTERNAL', 'internal error', { cause: err }), DEFAULT_REALM) };
  }
  return checkWith(verifier, headers, rawHeaders, checked);
}

/** {@link checkRequest} with options already checked by {@link guardOptions} (the middlewares check theirs once). */
export async function checkWith(
  verifier: TokenVerifier,
  headers: IncomingHttpHeaders,
  rawHeaders: readonly string[] | undefined,
  opts: GuardOptions,
): Promise<GuardResult> {
  try {
    const token = bearerToken(headers, rawHeaders);
    if (token === undefined) throw refuse('GH_TOKEN_MISSING', 'a Bearer token is required');
    if (!looksLikeJwt(token)) throw refuse('GH_TOKEN_MALFORMED', 'the Bearer token is not a JWT');
    const identity = await verifier.verify(token);
    const missing = opts.scopes.filter((s) => !identity.scopes.has(s));
    if (missing.length > 0) throw new InsufficientScope(opts.scopes);
    return { ok: true, identity };
  } catch (err) {
    return { ok: false, rejection: rejection(asGatehouseError(err), opts.realm) };
  }
}

function bearerToken(headers: IncomingHttpHeaders, rawHeaders: readonly string[] | undefined): string | undefined {
  if (rawHeaders) {
    let count = 0;
    for (let i = 0; i < rawHeaders.length; i += 2) if (rawHeaders[i]!.toLowerCase() === 'authorization') count++;
    if (count > 1) throw refuse('GH_BAD_CREDENTIAL_REQUEST', 'more than one Authorization header');
  }
  const value = headers.authorization;
  if (value === undefined) return undefined;
  const space = value.indexOf(' ');
  const scheme = space < 0 ? value : value.slice(0, space);
  // Another scheme is not ours to judge: treat as absent, the challenge names Bearer.
  if (scheme.toLowerCase() !== 'bearer') return undefined;
  const token = value.slice(space + 1);
  if (space < 0 || !TOKEN68.test(token)) {
    throw refuse('GH_BAD_CREDENTIAL_REQUEST', 'the Bearer credential must be exactly one token68 value');
  }
  return token;
}

function rejection(error: GatehouseError, realm: string): Rejection {
  const headers: Record<string, string> = {
    'content-type': 'application/problem+json',
    'cache-control': 'no-store',
  };
  // RFC 6750 §3: 401 and 403 carry the challenge; a 503 is not the client's fault.
  if (error.status === 401 || error.status === 403 || error.status === 400) headers['www-authenticate'] = wwwAuthenticate(error, realm);
  if (error.retryAfterSeconds !== undefined) headers['retry-after'] = String(error.retryAfterSeconds);
  return { status: error.status, headers, body: JSON.stringify(problemDetails(error)), error };
}

/**
 * Writes a rejection on a node:http response (Express's `res` is one), unless
 * the response was answered meanwhile (a timeout middleware while the keys
 * loaded): writing again would throw ERR_HTTP_HEADERS_SENT out of a promise
 * callback and end the process.
 */
export function sendRejection(res: ServerResponse, r: Rejection): void {
  if (res.headersSent || res.writableEnded) return;
  res.writeHead(r.status, r.headers).end(r.body);
}

/** The programming error behind a GH_INTERNAL rejection, for a framework's error handler; undefined for a refusal. */
export function internalCause(r: Rejection): unknown {
  return r.error.code === 'GH_INTERNAL' ? (r.error.cause ?? r.error) : undefined;
}
