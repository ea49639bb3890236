import { createIntrospectionClient, type IntrospectionClient } from '../../tokens/introspection/client.js';
import { looksLikeJwt } from '../../tokens/jwt/parse.js';
import type { AuthnResult } from '../context.js';
import type { SyncCapableAuthenticator } from '../run.js';
import type { AuthKind, AuthKindContext } from './index.js';

export interface IntrospectionAuthenticatorOptions {
  /**
   * Leave three-segment (JWT-shaped) bearers to the JWT authenticator. Set it
   * when the route also accepts `jwt`; on an `opaque`-only route every bearer is
   * introspected, so the authorization server decides what it issued.
   */
  readonly skipJwtShaped?: boolean;
}

/** Authenticates a bearer token by RFC 7662 introspection (auth kind `opaque`). */
export function introspectionAuthenticator(
  client: IntrospectionClient,
  opts: IntrospectionAuthenticatorOptions = {},
): SyncCapableAuthenticator {
  return {
    kind: 'opaque',
    async authenticate(ctx) {
      const token = ctx.credential?.bearer;
      if (!token) return SKIPPED;
      if (opts.skipJwtShaped && looksLikeJwt(token)) return SKIPPED;
      return { status: 'authenticated', identity: await client.introspect(token) };
    },
    // A cached answer decides without a promise; a miss waits for the endpoint.
    authenticateSync(ctx) {
      const token = ctx.credential?.bearer;
      if (!token) return SKIPPED;
      if (opts.skipJwtShaped && looksLikeJwt(token)) return SKIPPED;
      const identity = client.introspectCached(token);
      return identity === undefined ? undefined : { status: 'authenticated', identity };
    },
  };
}

const SKIPPED: AuthnResult = Object.freeze({ status: 'skipped' });

/**
 * The `opaque` auth kind: one introspection client (one cache, one connection
 * pool) shared by every route. Routes that also accept `jwt` skip JWT-shaped
 * bearers so each token is checked by exactly one authenticator whatever the order.
 */
export function createIntrospectionKind(ctx: AuthKindContext): AuthKind {
  const cfg = ctx.config.security.introspection;
  if (!cfg) throw new Error('auth kind opaque needs security.introspection');
  const client = createIntrospectionClient(cfg, { now: ctx.now, metrics: ctx.metrics, logger: ctx.logger });
  const alone = introspectionAuthenticator(client);
  const besideJwt = introspectionAuthenticator(client, { skipJwtShaped: true });
  return {
    authenticatorFor: (route) => ((Array.isArray(route.auth) ? route.auth : [route.auth]).includes('jwt') ? besideJwt : alone),
    // Metadata discovery happens at load so the first request does not pay for it.
    ready: client.prefetch(),
    isReady: () => true,
    close: () => client.close(),
  };
}
