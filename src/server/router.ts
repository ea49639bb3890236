/** What the router needs to know about a route; the compiled route carries the rest. */
export interface Routable {
  /** Path prefix without a trailing slash (except `/` itself). */
  readonly path: string;
  /** `example.com`, `*.example.com`, or undefined for any host. */
  readonly host: string | undefined;
}

/** Matches a normalized path and a Host header against a route table compiled once. */
export interface Router<R extends Routable> {
  match(host: string | undefined, path: string): R | undefined;
  readonly routes: readonly R[];
}

interface Entry<R> {
  readonly route: R;
  readonly prefix: string;
  readonly exactHost: string | undefined;
  /** `.example.com` for `*.example.com`. */
  readonly hostSuffix: string | undefined;
}

/**
 * Builds the route table. Order of precedence: the longest path prefix wins;
 * between equal prefixes an exact host beats a wildcard host, which beats a
 * route without host. A prefix matches on segment boundaries only, where a
 * `.` right after the prefix counts as one: `/api/orders` matches `/api/orders`,
 * `/api/orders/1`, `/api/orders.json` and `/api/orders.`, never `/api/ordersX`.
 * Upstreams that read a format suffix serve those as `/api/orders`; a route
 * `/api` in front of them must not be the way to reach it.
 * It matches without regard to ASCII case: `/API/Orders` is routed by the
 * `/api/orders` route, because upstreams such as Express (by default) and IIS
 * serve it as `/api/orders`, and a case-sensitive match would send that
 * spelling to a public catch-all route instead. Route paths that differ only
 * in case are therefore refused by the configuration schema.
 *
 * The table is a flat array scanned in precedence order: for the tens of routes a
 * gateway usually carries this beats any tree, and it allocates nothing per request.
 */
export function createRouter<R extends Routable>(routes: readonly R[]): Router<R> {
  const entries: Entry<R>[] = routes.map((route) => {
    const prefix = trimTrailingSlash(route.path).toLowerCase();
    const host = route.host === undefined ? undefined : hostnameOf(route.host);
    const wildcard = host?.startsWith('*.') ?? false;
    return {
      route,
      prefix,
      exactHost: wildcard ? undefined : host,
      hostSuffix: wildcard ? host?.slice(1) : undefined,
    };
  });
  entries.sort((a, b) => b.prefix.length - a.prefix.length || hostRank(a) - hostRank(b));
  const table = entries;
  // Most tables match on paths alone: then the Host header is never parsed.
  const byHost = entries.some((e) => e.exactHost !== undefined || e.hostSuffix !== undefined);

  return {
    routes,
    match(rawHost, rawPath) {
      const host = rawHost === undefined || !byHost ? undefined : hostnameOf(rawHost);
      // Most paths are lower-case already: then nothing is copied.
      const path = hasUpper(rawPath) ? rawPath.toLowerCase() : rawPath;
      for (let i = 0; i < table.length; i++) {
        const e = table[i] as Entry<R>;
        if (!prefixMatches(e.prefix, path)) continue;
        if (e.exactHost !== undefined) {
          if (host !== e.exactHost) continue;
        } else if (e.hostSuffix !== undefined) {
          if (host === undefined || host.length <= e.hostSuffix.length || !host.endsWith(e.hostSuffix)) continue;
        }
        return e.route;
      }
      return undefined;
    },
  };
}

/**
 * What the router matches a route by: its path prefix (lower-cased, no trailing
 * slash) and its host name. Two routes with the same key match the same requests,
 * so the second could never be reached; the configuration schema refuses that.
 */
export function routeMatchKey(path: string, host: string | undefined): string {
  return `${host === undefined ? '' : hostnameOf(host)} ${trimTrailingSlash(path).toLowerCase()}`;
}

function prefixMatches(prefix: string, path: string): boolean {
  if (prefix === '/') return true;
  if (!path.startsWith(prefix)) return false;
  if (path.length === prefix.length) return true;
  const next = path.charCodeAt(prefix.length);
  // `/`, or `.`: Rails' `(.:format)`, Spring's suffix pattern match and IIS (a trailing dot) serve
  // `/api/orders.json` and `/api/orders.` as `/api/orders`, which must not reach them by `/api`.
  return next === 0x2f || next === 0x2e;
}

function hostRank(e: Entry<unknown>): number {
  if (e.exactHost !== undefined) return 0;
  if (e.hostSuffix !== undefined) return 1;
  return 2;
}

function trimTrailingSlash(path: string): string {
  let end = path.length;
  while (end > 1 && path.charCodeAt(end - 1) === 0x2f) end--;
  return path.slice(0, end);
}

/** The host name of a Host header: port and a final dot removed, lower-cased, IPv6 brackets kept. */
export function hostnameOf(hostHeader: string): string {
  let end = hostHeader.length;
  if (hostHeader.charCodeAt(0) === 0x5b) {
    const close = hostHeader.indexOf(']');
    end = close < 0 ? end : close + 1;
  } else {
    const colon = hostHeader.indexOf(':');
    if (colon >= 0) end = colon;
  }
  // `api.example.com.` is the same name written fully qualified: without this it would miss
  // the route for `api.example.com` and fall through to a route without host.
  if (end > 1 && hostHeader.charCodeAt(end - 1) === 0x2e) end--;
  const name = end === hostHeader.length ? hostHeader : hostHeader.slice(0, end);
  // Host names are case-insensitive; the common all-lower-case header skips the copy.
  return hasUpper(name) ? name.toLowerCase() : name;
}

function hasUpper(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x41 && c <= 0x5a) return true;
  }
  return false;
}
