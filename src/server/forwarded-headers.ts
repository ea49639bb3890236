import type { IncomingHttpHeaders } from 'node:http';
import { foldedHeaderName, type InboundStripper } from '../pipeline/propagate/strip-inbound.js';
import { unmapIPv4 } from './trusted-proxies.js';

/**
 * Hop-by-hop headers (RFC 9110 §7.6.1) and those the proxy owns. `expect` is
 * answered by Node itself (100-continue) and undici refuses to send it;
 * `host` is set by the client pool to the upstream's authority.
 *
 * Also headers with which a client could make the upstream serve another
 * request than the one the gateway routed and authorized: a path
 * (`X-Original-URL`, `X-Rewrite-URL`: IIS, Symfony) or a method
 * (`X-HTTP-Method-Override` and kin: Express's method-override, ASP.NET, Spring),
 * which would get past a route's path prefix or its `methods`.
 */
const NEVER_FORWARDED = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade',
  'http2-settings', 'expect', 'host', 'x-request-id',
  'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'forwarded', 'x-real-ip',
  'x-original-url', 'x-rewrite-url', 'x-http-method-override', 'x-http-method', 'x-method-override',
  // httpoxy: a CGI-style upstream turns it into HTTP_PROXY, the proxy its own HTTP client uses.
  'proxy',
]);

/**
 * Other headers that state facts about the client or the original request, read
 * by common upstream helpers before (or instead of) X-Forwarded-For/-Proto: an
 * IP allow-list, a rate limit, an audit trail or an "is https" check would take
 * a client's word for them. Forwarded only from trusted proxies, like X-Forwarded-*.
 */
const CLIENT_FACTS = new Set([
  'x-client-ip', 'client-ip', 'true-client-ip', 'cf-connecting-ip', 'fastly-client-ip', 'x-cluster-client-ip',
  'x-originating-ip', 'x-remote-ip', 'x-remote-addr', 'x-forwarded', 'forwarded-for', 'x-host',
  'x-forwarded-ssl', 'x-forwarded-port', 'x-forwarded-prefix', 'x-forwarded-scheme', 'x-forwarded-server',
  'x-url-scheme', 'front-end-https',
]);

/** Per-request facts that shape the forwarded headers. */
export interface ForwardingFacts {
  /** The connecting peer's address. */
  readonly peer: string | undefined;
  /** Whether the peer is a trusted proxy whose X-Forwarded-* we extend. */
  readonly trusted: boolean;
  readonly proto: 'http' | 'https';
  readonly requestId: string;
}

/**
 * Builds the upstream request headers as a flat `[name, value, …]` list (what
 * undici takes without copying): inbound headers minus hop-by-hop ones, those
 * named in `Connection`, identity headers a client may not set, and `Authorization`
 * when the route drops it; then `X-Forwarded-For/Proto/Host` and `X-Request-Id`.
 * Identity headers are appended by the caller afterwards.
 */
export function buildUpstreamHeaders(
  headers: IncomingHttpHeaders,
  stripper: InboundStripper,
  dropAuthorization: boolean,
  facts: ForwardingFacts,
): string[] {
  const out: string[] = [];
  const connection = headers.connection;
  const connectionListed = connection !== undefined && !isPlainConnection(connection) ? listedNames(connection) : undefined;
  for (const name in headers) {
    // Checked as a CGI-style upstream reads the name: `x_forwarded_for` or `x.forwarded.for` would
    // reach it as HTTP_X_FORWARDED_FOR, beside ours (so such spellings of client facts never pass).
    const folded = foldedHeaderName(name);
    if (NEVER_FORWARDED.has(folded) || folded.startsWith('proxy-') || stripper.strips(folded)) continue;
    if (CLIENT_FACTS.has(folded) && (!facts.trusted || folded !== name)) continue;
    if (dropAuthorization && name === 'authorization') continue;
    if (connectionListed !== undefined && connectionListed.has(name)) continue;
    const value = headers[name];
    if (value === undefined) continue;
    if (typeof value === 'string') out.push(name, value);
    else for (const v of value) out.push(name, v);
  }

  const peer = facts.peer === undefined ? 'unknown' : unmapIPv4(facts.peer);
  const host = headers.host;
  if (facts.trusted) {
    const xff = headers['x-forwarded-for'];
    out.push('x-forwarded-for', xff ? `${xff}, ${peer}` : peer);
    out.push('x-forwarded-proto', firstValue(headers['x-forwarded-proto']) ?? facts.proto);
    const xfh = firstValue(headers['x-forwarded-host']) ?? host;
    if (xfh) out.push('x-forwarded-host', xfh);
    // RFC 7239: extended with this hop, as X-Forwarded-For is, so both tell the same chain.
    const fwd = headers.forwarded;
    if (fwd) out.push('forwarded', `${fwd}, for=${forwardedNode(peer)};proto=${facts.proto}`);
    const realIp = firstValue(headers['x-real-ip']);
    if (realIp) out.push('x-real-ip', realIp);
  } else {
    out.push('x-forwarded-for', peer, 'x-forwarded-proto', facts.proto);
    if (host) out.push('x-forwarded-host', host);
  }
  out.push('x-request-id', facts.requestId);
  return out;
}

/**
 * The host the client asked for: behind a trusted proxy, the first X-Forwarded-Host
 * (the browser's, before proxies appended theirs), else Host.
 */
export function requestedHost(headers: IncomingHttpHeaders, trusted: boolean): string | undefined {
  return (trusted ? firstValue(headers['x-forwarded-host']) : undefined) ?? headers.host;
}

/**
 * A header the proxy owns (see {@link isNeverForwarded}) whose name starts with
 * `prefix` (lower-case, folded), or undefined: a strip prefix that would remove it.
 */
export function proxyOwnedWithPrefix(prefix: string): string | undefined {
  if (prefix.startsWith('proxy-')) return prefix;
  if ('proxy-'.startsWith(prefix)) return 'proxy-*';
  for (const name of NEVER_FORWARDED) if (name.startsWith(prefix)) return name;
  for (const name of CLIENT_FACTS) if (name.startsWith(prefix)) return name;
  return undefined;
}

/** Lower-case names the proxy sets, removes or takes from trusted proxies only; also `proxy-*`. */
export function isNeverForwarded(name: string): boolean {
  return NEVER_FORWARDED.has(name) || CLIENT_FACTS.has(name) || name.startsWith('proxy-');
}

/** `keep-alive` and `close` are the usual values and name no extra headers. */
function isPlainConnection(value: string): boolean {
  const v = value.length <= 10 ? value.toLowerCase() : '';
  return v === 'keep-alive' || v === 'close';
}

function listedNames(value: string): Set<string> {
  return new Set(value.split(',').map((t) => t.trim().toLowerCase()).filter((t) => t !== ''));
}

/**
 * The first element of a list-valued header: the value the proxy nearest the client set. Node
 * joins repeated X-Forwarded-Proto/-Host lines with ", ", and a chain of proxies may write one
 * line `https, http`; passed on whole, neither reads as a scheme or a host.
 */
function firstValue(value: string | string[] | undefined): string | undefined {
  if (value === undefined) return undefined;
  const v = typeof value === 'string' ? value : (value[0] as string);
  const comma = v.indexOf(',');
  const first = (comma < 0 ? v : v.slice(0, comma)).trim();
  return first === '' ? undefined : first;
}

/** A node of `Forwarded` (RFC 7239 §6): an IPv6 address bracketed and quoted. */
function forwardedNode(address: string): string {
  return address.includes(':') ? `"[${address}]"` : address;
}


/**
 * Removes hop-by-hop headers from an upstream response, given as undici's raw
 * `[name, value, …]` Buffers, and what an upstream may not set on the gateway's
 * origin: a cookie in the gateway's own `__Host-gh_` namespace (a service could
 * otherwise plant its own session in the browser, or log users out), also when
 * spelled nameless (`=__Host-gh_sid=…`, which some browsers send back as that
 * name), and `Strict-Transport-Security` (the gateway's, on HTTPS, is the one
 * that counts; a browser heeds only the first).
 *
 * Undefined for a response in a transfer coding besides `chunked`: undici
 * removes the chunking only, and the client would get the other coding's bytes
 * unannounced.
 */
export function buildDownstreamHeaders(raw: readonly Buffer[]): string[] | undefined {
  const out: string[] = [];
  let connectionListed: Set<string> | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = (raw[i] as Buffer).toString('latin1').toLowerCase();
    const value = (raw[i + 1] as Buffer).toString('latin1');
    if (name === 'connection') {
      if (!isPlainConnection(value)) connectionListed = listedNames(value);
      continue;
    }
    if (name === 'transfer-encoding' && !isChunkedAlone(value)) return undefined;
    if (RESPONSE_HOP_BY_HOP.has(name) || name.startsWith('proxy-')) continue;
    if (name === 'set-cookie' && GATEWAY_COOKIE.test(value)) continue;
    out.push(name, value);
  }
  if (connectionListed === undefined) return out;
  const kept: string[] = [];
  for (let i = 0; i < out.length; i += 2) {
    if (!connectionListed.has(out[i] as string)) kept.push(out[i] as string, out[i + 1] as string);
  }
  return kept;
}

// `content-length` stays: Node then sends the body as-is instead of re-chunking it.
// `x-request-id` is ours: the gateway returns the id it forwarded.
const RESPONSE_HOP_BY_HOP = new Set([
  'keep-alive', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'http2-settings', 'x-request-id', 'strict-transport-security',
]);

/** A Set-Cookie value naming a cookie in the gateway's namespace, with or without a name before it. */
const GATEWAY_COOKIE = /^[\t ]*(?:=[\t ]*)?__host-gh_/i;

/**
 * Makes a downstream response (`[name, value, …]`, from buildDownstreamHeaders)
 * one no cache stores: the upstream's caching headers go, and
 * `Cache-Control: private, no-store` replaces them. For responses the gateway
 * adds a session cookie to (a re-sealed stateless session carries the user's
 * sealed tokens): a `public` or `s-maxage` answer would otherwise let a shared
 * cache hand that Set-Cookie, and the session, to the next visitor. The
 * CDN-targeted fields go too, as CDNs heed them over Cache-Control (RFC 9213).
 */
export function makeUncacheable(headers: string[]): void {
  let w = 0;
  for (let r = 0; r < headers.length; r += 2) {
    const name = headers[r] as string;
    if (name === 'cache-control' || name === 'surrogate-control' || name.endsWith('cdn-cache-control')) continue;
    headers[w++] = name;
    headers[w++] = headers[r + 1] as string;
  }
  headers.length = w;
  headers.push('cache-control', 'private, no-store');
}

/**
 * Removes Content-Length from downstream headers (`[name, value, …]`, from
 * buildDownstreamHeaders) of a 204: RFC 9110 §8.6 forbids it there, and a
 * client that trusts it would wait for a body that never comes, or read the
 * next response as one.
 */
export function dropContentLength(headers: string[]): void {
  let w = 0;
  for (let r = 0; r < headers.length; r += 2) {
    if (headers[r] === 'content-length') continue;
    headers[w++] = headers[r] as string;
    headers[w++] = headers[r + 1] as string;
  }
  headers.length = w;
}

/**
 * Whether a Transfer-Encoding value is `chunked` and nothing else. Node's parser
 * refuses a list that does not end in `chunked`, but passes `gzip, chunked`:
 * the body is then de-chunked and sent on re-chunked without its other coding.
 * The same holds for upstream responses, which undici de-chunks.
 */
export function isChunkedAlone(value: string): boolean {
  return value.length <= 16 && value.trim().toLowerCase() === 'chunked';
}
