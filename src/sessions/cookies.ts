import type { IncomingHttpHeaders } from 'node:http';
import { GatehouseError } from '../errors.js';

/**
 * Every cookie the gateway sets is named `__Host-gh_…`; the prefix is reserved
 * for it, with or without a `sessions` section: browsers keep the cookies of a
 * section that was removed (sealed tokens, session ids) until they expire.
 */
export const GATEWAY_COOKIE_PREFIX = '__Host-gh_';

/** True for a name in the gateway's cookie namespace. */
export function isGatewayNamespace(name: string): boolean {
  return name.startsWith(GATEWAY_COOKIE_PREFIX);
}

/** Bounds on what one Cookie header may cost to parse. */
export interface CookieLimits {
  /** Most name=value pairs read (431 beyond). Default 100. */
  readonly maxCookies?: number;
  /** Largest Cookie header, all lines together (431 beyond). Default 16384. */
  readonly maxBytes?: number;
}

export interface CookieAttributes {
  /** Lifetime; absent for a browser-session cookie. */
  readonly maxAgeSeconds?: number;
  /** Default true: page JavaScript cannot read it. The CSRF token cookie is the one exception. */
  readonly httpOnly?: boolean;
  /** Default 'Lax': sent on top-level navigations from other sites (so login links work), not on their subrequests. */
  readonly sameSite?: 'Strict' | 'Lax' | 'None';
  /** Default true. Only `false` for tests of the rule itself: `__Host-` names require it. */
  readonly secure?: boolean;
}

const NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// RFC 6265 cookie-octet: visible ASCII except DQUOTE, comma, semicolon, backslash.
const VALUE = /^[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]*$/;

/**
 * Parses a Cookie header into a map. The first occurrence of a name wins
 * (browsers send the most specific first, and `__Host-` names cannot be
 * planted by a sibling domain). Only spaces and tabs around a pair are
 * trimmed, and a pair whose name is not a token is dropped: JavaScript's
 * trim() also strips U+00A0 (a raw 0xA0 byte), so `\xA0__Host-gh_sid`, a name
 * a browser lets a sibling domain set, would have read as `__Host-gh_sid`.
 * Too many pairs or bytes → 431.
 */
export function parseCookies(header: string | readonly string[] | undefined, limits: CookieLimits = {}): Map<string, string> {
  const out = new Map<string, string>();
  if (header === undefined) return out;
  const text = typeof header === 'string' ? header : header.join('; ');
  if (text.length > (limits.maxBytes ?? 16384)) throw new GatehouseError('GH_HEADERS_TOO_LARGE', 'cookie header too large');
  const maxCookies = limits.maxCookies ?? 100;
  let count = 0;
  for (const part of text.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const name = trimSpaces(part.slice(0, eq));
    if (!name) continue;
    if (++count > maxCookies) throw new GatehouseError('GH_HEADERS_TOO_LARGE', 'too many cookies');
    if (out.has(name) || !NAME.test(name)) continue;
    let value = trimSpaces(part.slice(eq + 1));
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    out.set(name, value);
  }
  return out;
}

/** A Set-Cookie value: Path=/, no Domain, Secure, HttpOnly and SameSite=Lax unless told otherwise. */
export function serializeCookie(name: string, value: string, attrs: CookieAttributes = {}): string {
  if (!NAME.test(name)) throw new RangeError(`invalid cookie name ${name}`);
  if (!VALUE.test(value)) throw new RangeError(`invalid value for cookie ${name}`);
  const secure = attrs.secure ?? true;
  if (name.startsWith('__Host-') && !secure) throw new RangeError('__Host- cookies must be Secure');
  const parts = [`${name}=${value}`, 'Path=/'];
  if (attrs.maxAgeSeconds !== undefined) parts.push(`Max-Age=${Math.max(0, Math.floor(attrs.maxAgeSeconds))}`);
  if (secure) parts.push('Secure');
  if (attrs.httpOnly ?? true) parts.push('HttpOnly');
  parts.push(`SameSite=${attrs.sameSite ?? 'Lax'}`);
  return parts.join('; ');
}

/** A Set-Cookie value that deletes the cookie (same attributes, so the browser matches it). */
export function clearCookie(name: string, attrs: Omit<CookieAttributes, 'maxAgeSeconds'> = {}): string {
  return `${serializeCookie(name, '', { ...attrs, maxAgeSeconds: 0 })}; Expires=Thu, 01 Jan 1970 00:00:00 GMT`;
}

/**
 * The Cookie header without the cookies `drop` selects, or undefined when none
 * remain: the upstream never sees the session cookie.
 */
export function withoutCookies(header: string | readonly string[] | undefined, drop: (name: string) => boolean): string | undefined {
  if (header === undefined) return undefined;
  const text = typeof header === 'string' ? header : header.join('; ');
  const kept = text
    .split(';')
    .map(trimSpaces)
    .filter((p) => {
      if (!p) return false;
      const eq = p.indexOf('=');
      const name = trimSpaces(eq < 0 ? p : p.slice(0, eq));
      // Also a spelling an upstream reading cookies with trim() would take for one of the dropped (`\xA0__Host-gh_sid`).
      return !drop(name) && !drop(name.trim());
    });
  return kept.length > 0 ? kept.join('; ') : undefined;
}

/**
 * Removes the gateway's cookies (its whole namespace: every cookie it sets, and any
 * other spelling in it) from headers about to go upstream. A request without a
 * Cookie header, or without the prefix in it, costs one check.
 */
export function stripGatewayCookies(headers: IncomingHttpHeaders): void {
  const cookie = headers.cookie;
  // The spellings withoutCookies also drops (`\xA0__Host-gh_sid`) carry the prefix too.
  if (cookie === undefined || !cookie.includes(GATEWAY_COOKIE_PREFIX)) return;
  // Undefined rather than deleted (see the session authenticator): buildUpstreamHeaders skips it.
  headers.cookie = withoutCookies(cookie, isGatewayNamespace);
}

/** Strips the spaces and tabs around a cookie pair or its parts (RFC 6265 §5.2), nothing else. */
function trimSpaces(s: string): string {
  let start = 0;
  let end = s.length;
  while (start < end && (s.charCodeAt(start) === 0x20 || s.charCodeAt(start) === 0x09)) start++;
  while (end > start && (s.charCodeAt(end - 1) === 0x20 || s.charCodeAt(end - 1) === 0x09)) end--;
  return start === 0 && end === s.length ? s : s.slice(start, end);
}
