import { GatehouseError } from '../errors.js';
import { isLoopbackAddress } from '../loopback.js';

const isLoopback = (u: URL): boolean => isLoopbackAddress(u.hostname);

/**
 * Longest `return_to` kept, counted as stored: normalized and percent-encoded
 * (a 1,000-character path of `é` is 6,000). It travels sealed in the one-cookie
 * login transaction with state, nonce and verifier; a test pins that this much
 * fits under the longest key id the config allows.
 */
export const MAX_RETURN_TO_LENGTH = 2048;

const refuse = () => new GatehouseError('GH_BAD_REQUEST', 'return_to is not an allowed destination');

/**
 * Where a login may send the browser afterwards: a path on the gateway's own
 * origin, or a URL on an allow-listed origin. Anything else — another host,
 * a scheme-relative `//evil` (also one that dot segments produce, `/.//evil`),
 * a backslash trick, `javascript:` — is 400
 * GH_BAD_REQUEST, never a redirect (no open redirect). So is a destination
 * longer than {@link MAX_RETURN_TO_LENGTH} once normalized.
 */
export function safeReturnTo(raw: string | null | undefined, publicOrigin: string, allowedOrigins: readonly string[] = []): string {
  if (raw === undefined || raw === null || raw === '') return '/';
  const accepted = acceptedReturnTo(raw, publicOrigin, allowedOrigins);
  if (accepted === undefined) throw refuse();
  return accepted;
}

/**
 * The `return_to` the gateway itself puts in the login redirect of a page
 * navigation without a session: the request's path and query; when that is
 * refused (too long), the path alone, so the user still lands on the page,
 * without its query; else `/`. Never a value `/auth/login` would refuse: a
 * deep link up to the URL limit must still end in a login.
 */
export function returnToFor(path: string, query: string, publicOrigin: string): string {
  return (query !== '' ? acceptedReturnTo(path + query, publicOrigin, []) : undefined) ?? acceptedReturnTo(path, publicOrigin, []) ?? '/';
}

/** The normalized destination, or undefined when it is refused. */
function acceptedReturnTo(raw: string, publicOrigin: string, allowedOrigins: readonly string[]): string | undefined {
  // Too long already: normalizing rarely shrinks a value (dot segments, a default port, an
  // upper-case host), and no real link needs that to fit.
  // Control characters and backslashes are normalized differently by browsers and URL parsers.
  // eslint-disable-next-line no-control-regex
  if (raw.length > MAX_RETURN_TO_LENGTH || /[\x00-\x1f\x7f\\]/.test(raw)) return undefined;
  const out = normalized(raw, publicOrigin, allowedOrigins);
  // Checked on what is stored: percent-encoding can make it several times longer than what came in.
  return out !== undefined && out.length <= MAX_RETURN_TO_LENGTH ? out : undefined;
}

function normalized(raw: string, publicOrigin: string, allowedOrigins: readonly string[]): string | undefined {
  if (raw.startsWith('/')) {
    if (raw.startsWith('//')) return undefined;
    let u: URL;
    try {
      u = new URL(raw, publicOrigin);
    } catch {
      return undefined;
    }
    // Dot segments can resolve `/.//evil.example` to the path `//evil.example`, which a browser
    // reads as another host: check what is returned, not what came in.
    if (u.origin !== publicOrigin || u.pathname.startsWith('//')) return undefined;
    return u.pathname + u.search + u.hash;
  }
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    return undefined;
  }
  if (u.protocol !== 'https:' && !(u.protocol === 'http:' && isLoopback(u))) return undefined;
  if (u.username || u.password) return undefined;
  if (u.origin !== publicOrigin && !allowedOrigins.includes(u.origin)) return undefined;
  return u.href;
}
