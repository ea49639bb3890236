import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BENCH_OPAQUE_RESOURCE, issueTokens } from './fixtures/auth.js';
import { BENCH_SCOPE } from './fixtures/fixtures.js';
import type { CredentialSource, ModeContext, ModeSpec } from './modes.js';

/** Opaque access tokens obtained before the rounds: a list this short fits the introspection cache, so after warm-up every lookup is a hit. */
export const OPAQUE_TOKEN_COUNT = 100;

/**
 * Opaque tokens (issue 3): the gateway introspects each bearer at the bench's
 * authorization service and caches the answer. The tokens live 24 h and the
 * cache keeps an answer for an hour, so after the warm-up pass every measured
 * request is a cache hit: this measures the cached path, not the service.
 */
export function opaqueMode(routePath: string): ModeSpec {
  let made: Promise<CredentialSource> | undefined;
  const tokens = (ctx: ModeContext) =>
    (made ??= (async () => {
      const auth = await ctx.authService();
      const list = await issueTokens(auth, BENCH_OPAQUE_RESOURCE, OPAQUE_TOKEN_COUNT);
      const valuesFile = join(auth.dir, 'opaque-tokens.txt');
      writeFileSync(valuesFile, `${list.join('\n')}\n`, { mode: 0o600 });
      return { valuesFile, count: list.length, header: 'Authorization', prefix: 'Bearer ', first: list[0]! };
    })());
  return {
    id: 'o-opaque',
    group: 'o',
    title: `${OPAQUE_TOKEN_COUNT} opaque tokens in rotation, introspection cached`,
    path: `${routePath}/42`,
    expectStatus: 200,
    minRatioVsBare: 0.85,
    minRatioVsPeer: 0,
    credentials: tokens,
    async gatewayConfig(ctx, ports) {
      const auth = await ctx.authService();
      return {
        listen: { host: '127.0.0.1', port: ports.port },
        admin: { enabled: true, host: '127.0.0.1', port: ports.adminPort },
        security: {
          introspection: {
            issuer: auth.issuer,
            clientId: auth.gateway.clientId,
            clientSecret: auth.gateway.clientSecret,
            audience: BENCH_OPAQUE_RESOURCE,
            cacheMaxAge: '1h',
            cacheMaxEntries: 10_000,
          },
        },
        routes: [{ path: routePath, upstream: ctx.upstreamUrl, auth: 'opaque', scopes: [BENCH_SCOPE] }],
        logging: { level: ctx.gatewayLogLevel },
      };
    },
    peer: () => 'no introspection in this peer setup (express-jwt and @fastify/jwt only verify JWTs locally)',
    notes: [
      `${OPAQUE_TOKEN_COUNT} opaque access tokens obtained by client credentials from the authorization service (\`startAuthService\`, SQLite store) before the rounds; ` +
        'the gateway introspects them there (`security.introspection`, client_secret_basic, `cacheMaxAge: 1h`). ' +
        'The service runs in its own process pinned to the load core beside the upstream, and is idle during the rounds: warm-up sends every token once, so every measured lookup is a hit (the cache counters above show it).',
    ],
    warmupPasses: 1,
    gatewayCache: 'introspection',
    credentialsFrom: 'the authorization service (client credentials)',
  };
}
