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
import type { Upstream, UpstreamPools } from './forward.js';
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
  readonly upstream: Upstream;
  /** Upstream URL path, prepended to the normalized request path ('' for none). */
  readonly basePath: string;
  readonly maxBodyBytes: number;
  readonly timeoutMs: number;
  /** How long a response may wait for the client to take any of it (`limits.sendTimeoutMs`). */
  readonly sendTimeoutMs: number;
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
  // Names, paths and upstreams were checked with the rest of the file (ConfigSchema).
  return config.routes.map((route) => {
    const name = route.name ?? route.path;
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
    path: route.path,
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
    upstream: pools.get(upstream.origin),
    basePath: upstream.pathname.replace(/\/+$/, ''),
    maxBodyBytes: route.maxBodyBytes ?? config.limits.maxBodyBytes,
    timeoutMs: route.timeoutMs ?? config.limits.upstreamTimeoutMs,
    sendTimeoutMs: config.limits.sendTimeoutMs,
    metrics: new RouteMetrics(metrics, name),
  };
}
