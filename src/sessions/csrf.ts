import { randomBytes } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { GatehouseError } from '../errors.js';
import { serializeCookie, type CookieAttributes } from './cookies.js';
import { safeEqual } from './crypto.js';

export interface CsrfOptions {
  /** The gateway's own origin, e.g. `https://app.example.com`. */
  readonly publicOrigin: string;
  /** Further origins whose pages may send cookie-authenticated unsafe requests. */
  readonly allowedOrigins: readonly string[];
  /** Also require a double-submit token: header `x-csrf-token` equal to cookie `__Host-gh_csrf`. */
  readonly doubleSubmit: boolean;
  readonly cookieName?: string;
  readonly headerName?: string;
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export function isUnsafeMethod(method: string | undefined): boolean {
  return !SAFE_METHODS.has(method ?? 'GET');
}

/**
 * Cross-site request check for cookie-authenticated unsafe methods. SameSite=Lax
 * already keeps the cookie off cross-site subrequests; this is the second line:
 * `Sec-Fetch-Site: same-origin`, or an `Origin` that is ours or allow-listed. A
 * request with neither header is refused (every current browser sends one on
 * unsafe methods; other clients should use bearer tokens). With `doubleSubmit`,
 * the `x-csrf-token` header must also equal the `__Host-gh_csrf` cookie.
 */
export function checkCsrf(method: string | undefined, headers: IncomingHttpHeaders, cookies: ReadonlyMap<string, string>, opts: CsrfOptions): void {
  if (!isUnsafeMethod(method)) return;
  const reject = (why: string) => new GatehouseError('GH_CSRF_REJECTED', why);
  const site = headers['sec-fetch-site'];
  const origin = headers.origin;
  const originOk = origin !== undefined && origin !== 'null' && (origin === opts.publicOrigin || opts.allowedOrigins.includes(origin));
  if (site !== undefined && site !== 'same-origin' && !originOk) throw reject('cross-site request refused');
  if (site === undefined && !originOk) throw reject(origin === undefined ? 'request without Origin refused' : 'cross-origin request refused');
  if (opts.doubleSubmit) {
    const header = headers[opts.headerName ?? 'x-csrf-token'];
    const cookie = cookies.get(opts.cookieName ?? '__Host-gh_csrf');
    if (typeof header !== 'string' || cookie === undefined || !safeEqual(header, cookie)) throw reject('CSRF token missing or wrong');
  }
}

/** The double-submit cookie, readable by page JavaScript by design (it is not a credential). */
export function csrfCookie(opts: CsrfOptions, attrs: Omit<CookieAttributes, 'maxAgeSeconds' | 'httpOnly'> = {}, maxAgeSeconds?: number): string {
  return serializeCookie(opts.cookieName ?? '__Host-gh_csrf', randomBytes(24).toString('base64url'), { ...attrs, httpOnly: false, maxAgeSeconds });
}
