import { GatehouseError } from '../errors.js';
import { isLoopbackAddress } from '../loopback.js';

const isLoopback = (u: URL): boolean => isLoopbackAddress(u.hostname);

/**
 * Where a login may send the browser afterwards: a path on the gateway's own
 * origin, or a URL on an allow-listed origin. Anything else — another host,
 * a scheme-relative `//evil` (also one that dot segments produce, `/.//evil`),
 * a backslash trick, `javascript:` — is 400
 * GH_BAD_REQUEST, never a redirect (no open redirect).
 */
export function safeReturnTo(raw: string | null | undefined, publicOrigin: string, allowedOrigins: readonly string[] = []): string {
  if (raw === undefined || raw === null || raw === '') return '/';
  const refuse = () => new GatehouseError('GH_BAD_REQUEST', 'return_to is not an allowed destination');
  // Control characters and backslashes are normalized differently by browsers and URL parsers.
  // eslint-disable-next-line no-control-regex
  if (raw.length > 2048 || /[\x00-\x1f\x7f\\]/.test(raw)) throw refuse();
  if (raw.startsWith('/')) {
    if (raw.startsWith('//')) throw refuse();
    let u: URL;
    try {
      u = new URL(raw, publicOrigin);
    } catch {
      throw refuse();
    }
    // Dot segments can resolve `/.//evil.example` to the path `//evil.example`, which a browser
    // reads as another host: check what is returned, not what came in.
    if (u.origin !== publicOrigin || u.pathname.startsWith('//')) throw refuse();
    return u.pathname + u.search + u.hash;
  }
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw refuse();
  }
  if (u.protocol !== 'https:' && !(u.protocol === 'http:' && isLoopback(u))) throw refuse();
  if (u.username || u.password) throw refuse();
  if (u.origin !== publicOrigin && !allowedOrigins.includes(u.origin)) throw refuse();
  return u.href;
}
