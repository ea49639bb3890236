import type { GatewayMetrics } from '../admin/metrics.js';
import { configuredIssuers, type Config, type RouteConfig } from '../config/schema.js';
import type { AuthKinds } from '../pipeline/authenticate/index.js';
import { compileClaimCheck } from '../pipeline/authorize/claims.js';
import { compileIssuerCheck } from '../pipeline/authorize/issuers.js';
import { compileScopeCheck, type IdentityCheck } from '../pipeline/authorize/scopes.js';
import type { Authenticator } from '../pipeline/context.js';
import { compileIdentityHeaders, identityHeaderNames, type IdentityHeaderWriter } from '../pipeline/propagate/headers.js';
import { compileInboundStripper, type InboundStripper } from '../pipeline/propagate/strip-inbound.js';
import type { RoutePolicy } from '../pipeline/run.js';
import type { UpstreamPools } from './forward.js';
import type { Dispatcher } from 'undici';
import { normalizePath } from './normalize-path.js';
import { RouteMetrics } from './route-metrics.js';
import type { Routable } from './router.js';

/** A route with everything the request path needs, built once per configuration. */
export interface CompiledRoute extends Routable, RoutePolicy {
  readonly name: string;
  /** Allowed methods, or undefined for all. */
  readonly methods: ReadonlySet<string> | undefined;
  /** `Allow` header value for a 405. */
  readonly allow: string;
  readonly stripper: InboundStripper;
  readonly dropAuthorization: boolean;
  readonly identityHeaders: IdentityHeaderWriter | undefined;
  readonly origin: string;
  readonly pool: Dispatcher;
  /** Upstream URL path, prepended to the normalized request path ('' for none). */
  readonly basePath: string;
  readonly maxBodyBytes: number;
  readonly timeoutMs: number;
  readonly metrics: RouteMetrics;
}

/** Compiles every route of a configuration. Throws on a route that cannot work. */
export function compileRoutes(config: Config, auth: AuthKinds, pools: UpstreamPools, metrics: GatewayMetrics): CompiledRoute[] {
  const issuers = configuredIssuers(config);
  // One stripper for every route: a header some route injects (`x-tenant`) must not reach an
  // upstream from the client through another route, a public one to the same service included.
  const stripper = compileInboundStripper({
    prefixes: config.identity.stripPrefixes,
    names: [...config.identity.stripHeaders, ...config.routes.flatMap((r) => identityHeaderNames(r.propagate))],
  });
  const names = new Set<string>();
  const matches = new Map<string, number>();
  return config.routes.map((route, i) => {
    const name = route.name ?? route.path;
    if (names.has(name)) throw new Error(`routes.${i}: route name ${name} is used twice; names label metrics`);
    names.add(name);
    // The router compares paths without regard to case and never by method: a second route with
    // the same path and host could never be reached.
    const match = `${route.host?.toLowerCase() ?? ''} ${route.path.replace(/(.)\/+$/, '$1').toLowerCase()}`;
    const earlier = matches.get(match);
    if (earlier !== undefined) {
      throw new Error(`routes.${i}: path ${route.path} matches the same requests as routes.${earlier} (paths match regardless of case)`);
    }
    matches.set(match, i);
    return compileRoute(route, config, { auth, pools, metrics, issuers, stripper }, name);
  });
}

/** What every route of one configuration shares. */
interface RouteEnv {
  readonly auth: AuthKinds;
  readonly pools: UpstreamPools;
  readonly metrics: GatewayMetrics;
  readonly issuers: ReturnType<typeof configuredIssuers>;
  readonly stripper: InboundStripper;
}

function compileRoute(route: RouteConfig, config: Config, env: RouteEnv, name: string): CompiledRoute {
  const { auth, pools, metrics, issuers } = env;
  const upstream = new URL(route.upstream);
  if (upstream.protocol !== 'http:' && upstream.protocol !== 'https:') {
    throw new Error(`route ${name}: upstream must be http or https`);
  }
  if (upstream.search || upstream.hash || upstream.username || upstream.password) {
    throw new Error(`route ${name}: upstream must not carry a query, fragment or credentials`);
  }
  const { authenticators, allowAnonymous }: { authenticators: Authenticator[]; allowAnonymous: boolean } = auth.forRoute(route);
  const checks = [
    compileIssuerCheck(route.issuers, issuers),
    compileScopeCheck(route.scopes),
    compileClaimCheck(route.claims),
  ].filter((c): c is IdentityCheck => c !== undefined);

  // A route that accepts GET answers HEAD as well, as HTTP expects of every server.
  const methods = route.methods ? new Set(route.methods) : undefined;
  if (methods?.has('GET')) methods.add('HEAD');
  const p = route.propagate;
  return {
    name,
    path: routePath(route.path, name),
    host: route.host,
    methods,
    allow: methods ? [...methods].join(', ') : '',
    authenticators,
    allowAnonymous,
    checks,
    stripper: env.stripper,
    // Masking exists so a service need not see the token: it goes unless the route keeps it explicitly.
    dropAuthorization: (p.authorization ?? (p.maskedClaims ? 'drop' : 'forward')) === 'drop',
    identityHeaders: compileIdentityHeaders(p),
    origin: upstream.origin,
    pool: pools.get(upstream.origin),
    basePath: upstream.pathname.replace(/\/+$/, ''),
    maxBodyBytes: route.maxBodyBytes ?? config.limits.maxBodyBytes,
    timeoutMs: route.timeoutMs ?? config.limits.upstreamTimeoutMs,
    metrics: new RouteMetrics(metrics, name),
  };
}

/**
 * Route paths go through the same normalization as request paths; a configured
 * spelling that normalization would change could never match, so it is refused.
 */
function routePath(path: string, name: string): string {
  let normalized: string;
  try {
    normalized = normalizePath(path);
  } catch {
    throw new Error(`route ${name}: path ${path} contains characters requests may not use`);
  }
  if (normalized !== path) throw new Error(`route ${name}: write the path as ${normalized}`);
  return path;
}
