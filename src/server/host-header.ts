import type { IncomingMessage } from 'node:http';
import { domainToASCII } from 'node:url';
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

const ROUTE_HOST_FORM = 'a host name as the Host header carries it (`api.example.com`, `*.example.com` or `[::1]`, optionally with a port): no scheme, path, spaces or list';

/**
 * Why `host` cannot be a route's `host`, or undefined when it can: the syntax a
 * request's Host header must have (anything else is refused before routing, so
 * such a route could never match, and its traffic would silently fall to a less
 * specific route), with an optional leading `*.` as the one wildcard. A name
 * beyond ASCII is refused with its ASCII (punycode) spelling, the one browsers
 * send: written as requests carry it, as route paths are.
 */
export function routeHostProblem(host: string): string | undefined {
  if (host === '') return 'empty: leave host out to match every host';
  if (host.includes('://')) return `${ROUTE_HOST_FORM}; this is a URL`;
  const wildcard = host.startsWith('*.');
  const name = wildcard ? host.slice(2) : host;
  if (name.includes('*')) return 'a wildcard is only a leading `*.` (`*.example.com`)';
  if (wildcard && name.startsWith('[')) return 'a wildcard `*.` needs a DNS name after it, not an IP literal';
  if (name === '' || !HOST_SYNTAX.test(name)) {
    const ascii = /[\u0080-\u{10ffff}]/u.test(name) ? domainToASCII(name) : '';
    if (ascii !== '' && HOST_SYNTAX.test(ascii)) return `write the name as the Host header carries it: ${wildcard ? '*.' : ''}${ascii}`;
    return ROUTE_HOST_FORM;
  }
  const colon = name.startsWith('[') ? name.indexOf(':', name.indexOf(']')) : name.indexOf(':');
  if (colon >= 0) {
    const port = name.slice(colon + 1);
    if (port === '' || Number(port) < 1 || Number(port) > 65535) return 'the port must be 1 to 65535 (a route matches every port of its host, so it may be left out)';
  }
  return undefined;
}
