import type { IncomingMessage } from 'node:http';
import { GatehouseError } from '../errors.js';

// A DNS name (labels of letters, digits, `-` and `_`, one dot between them, an optional final
// dot), or an IP literal in brackets, then an optional port; or empty (RFC 9112 §3.2). RFC 3986
// would also let a reg-name hold sub-delims and escapes, but upstreams read such values their
// own ways (`a.example,b.example`: Express takes the first name, Rails the last), while the
// router would match neither: refused, not routed on and passed upstream as X-Forwarded-Host.
const HOST_SYNTAX = /^(?:|[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*\.?|\[[0-9A-Fa-f:.]+\])(?::[0-9]*)?$/;

/**
 * RFC 9112 §3.2: an HTTP/1.1 request carries exactly one Host header with a
 * valid value, and a server answers anything else with 400. Node keeps only
 * the first of several in `req.headers`, which routing and X-Forwarded-Host
 * read, so duplicates are counted on `rawHeaders`. HTTP/1.0 predates Host and
 * may omit it. The listener turns Node's own missing-Host check off so that
 * this answer is problem+json like every other error.
 */
export function hostHeaderError(req: IncomingMessage): GatehouseError | undefined {
  const raw = req.rawHeaders;
  let count = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.length === 4 && name.toLowerCase() === 'host') count++;
  }
  if (count === 1) {
    return HOST_SYNTAX.test(req.headers.host as string) ? undefined : new GatehouseError('GH_BAD_REQUEST', 'the Host header is not a host name');
  }
  if (count > 1) return new GatehouseError('GH_BAD_REQUEST', 'more than one Host header');
  if (req.httpVersionMajor === 1 && req.httpVersionMinor === 0) return undefined;
  return new GatehouseError('GH_BAD_REQUEST', 'the Host header is missing');
}
