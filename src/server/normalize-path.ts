import { GatehouseError } from '../errors.js';

/**
 * Normalizes a request path once, before routing. The result is what the router
 * matches AND what is forwarded upstream, so no alternative spelling of a path can
 * match a public route and then be resolved by the upstream into a protected one.
 *
 * - escapes of the characters a path segment may hold raw are decoded: the
 *   unreserved ones (RFC 3986 §2.3), the sub-delims but `;` and `+`, `:` and `@`. Upstream
 *   frameworks (Spring, ASP.NET Core, Go, Django) decode them before routing, so
 *   `/users/%40me` must match the `/users/@me` route here as it will there. Other
 *   escapes are kept, with upper-case hex;
 * - dot segments are resolved (also when spelled `%2e`), never above the root;
 * - duplicate slashes are collapsed;
 * - an encoded slash (`%2F`), a backslash (raw or `%5C`), a NUL or any control
 *   character, a `#`, a `;` and a raw character beyond ASCII (Node's parser refuses
 *   those in requests; a route path must spell them percent-encoded) are rejected
 *   with 400 GH_PATH_REJECTED. Servlet
 *   containers and Spring drop path parameters before routing (`/api;x/orders`
 *   and `/api/orders;x` are `/api/orders` there, `..;` is `..`), so such a path
 *   could match a public route here and a protected one upstream. An encoded
 *   `%3B` stays: those servers decode it only after removing parameters.
 *
 * The case of the path is kept (it is forwarded as sent); the router compares
 * prefixes without regard to ASCII case, for upstreams that do (Express, IIS).
 *
 * @param raw the request target without its query string; must start with `/`.
 */
export function normalizePath(raw: string): string {
  if (raw.charCodeAt(0) !== SLASH) throw rejected('the request target must be an absolute path');
  // Fast path: most paths need nothing, and returning the input allocates nothing.
  let prev = 0;
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c === PERCENT || c === BACKSLASH || c === HASH || c === SEMICOLON || c < 0x21 || c > 0x7e) return normalizeSlow(raw);
    if ((c === SLASH || c === DOT) && prev === SLASH) return normalizeSlow(raw);
    prev = c;
  }
  return raw;
}

const SLASH = 0x2f;
const DOT = 0x2e;
const PERCENT = 0x25;
const BACKSLASH = 0x5c;
const HASH = 0x23;
const SEMICOLON = 0x3b;

function normalizeSlow(raw: string): string {
  const decoded = decodeUnreserved(raw);
  const segments = decoded.split('/');
  const out: string[] = [];
  // The last segment decides about a trailing slash: '/a/b/' and '/a/b/..' both end in one.
  let trailingSlash = false;
  for (let i = 1; i < segments.length; i++) {
    const seg = segments[i] as string;
    const isLast = i === segments.length - 1;
    if (seg === '' || seg === '.') {
      trailingSlash = isLast;
      continue;
    }
    if (seg === '..') {
      out.pop();
      trailingSlash = isLast;
      continue;
    }
    out.push(seg);
    trailingSlash = false;
  }
  if (out.length === 0) return '/';
  const path = '/' + out.join('/');
  return trailingSlash ? path + '/' : path;
}

function decodeUnreserved(raw: string): string {
  let out = '';
  let start = 0;
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c === BACKSLASH) throw rejected('backslash in path');
    if (c === HASH) throw rejected('fragment in request target');
    if (c === SEMICOLON) throw rejected('path parameters (;) are not accepted');
    if (c < 0x21 || c === 0x7f) throw rejected('control character in path');
    if (c > 0x7f) throw rejected('a character beyond ASCII in path (percent-encode it)');
    if (c !== PERCENT) continue;
    const hi = hexValue(raw.charCodeAt(i + 1));
    const lo = hexValue(raw.charCodeAt(i + 2));
    if (hi < 0 || lo < 0) throw rejected('malformed percent-encoding');
    const byte = hi * 16 + lo;
    if (byte === SLASH) throw rejected('encoded slash in path');
    if (byte === BACKSLASH) throw rejected('encoded backslash in path');
    if (byte < 0x20 || byte === 0x7f) throw rejected('encoded control character in path');
    out += raw.slice(start, i);
    out += decodesInPath(byte) ? String.fromCharCode(byte) : '%' + HEX[hi] + HEX[lo];
    i += 2;
    start = i + 1;
  }
  return start === 0 ? raw : out + raw.slice(start);
}

const HEX = '0123456789ABCDEF';

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

/**
 * A pchar (RFC 3986 §3.3) that is decoded: unreserved, `!$&'()*,=`, `:` and `@`. Not `;`:
 * servlet containers decode `%3B` only after removing path parameters, so it stays escaped.
 * Not `+`: upstreams that decode paths like forms (PHP's urldecode, Java's URLDecoder) read a
 * raw `+` as a space, so `%2B` must reach them as sent; route paths may not hold a `+` instead,
 * so its two spellings always fall under the same route.
 */
function decodesInPath(b: number): boolean {
  return (
    (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || (b >= 0x30 && b <= 0x3a) ||
    b === 0x2d || b === 0x2e || b === 0x5f || b === 0x7e ||
    b === 0x21 || b === 0x24 || (b >= 0x26 && b <= 0x2a) || b === 0x2c || b === 0x3d || b === 0x40
  );
}

function rejected(message: string): GatehouseError {
  return new GatehouseError('GH_PATH_REJECTED', message);
}
