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

/** The client a kind uses, shared with the kinds that took it over on a reload. */
interface SharedClient {
  readonly client: IntrospectionClient;
  /** The `security.introspection` settings it was built from. */
  readonly settings: string;
  /** Kinds using it that are not closed yet; the last to close closes the client. */
  holders: number;
}

/** Each opaque kind's client, for the kind that replaces it on a reload. */
const sharedClients = new WeakMap<AuthKind, SharedClient>();

/**
 * The `opaque` auth kind: one introspection client (one cache, one connection
 * pool) shared by every route. Routes that also accept `jwt` skip JWT-shaped
 * bearers so each token is checked by exactly one authenticator whatever the order.
 *
 * A reload that leaves `security.introspection` as it was keeps `previous`'s
 * client: its cached answers stay valid (a token the cache vouches for keeps
 * working while the endpoint is down), and active tokens do not all ask the
 * endpoint again at once. The client closes when the last kind holding it does.
 */
export function createIntrospectionKind(ctx: AuthKindContext, previous?: AuthKind): AuthKind {
  const cfg = ctx.config.security.introspection;
  if (!cfg) throw new Error('auth kind opaque needs security.introspection');
  const settings = JSON.stringify(cfg);
  const inherited = previous && sharedClients.get(previous);
  const shared: SharedClient =
    inherited !== undefined && inherited.holders > 0 && inherited.settings === settings
      ? inherited
      : { client: createIntrospectionClient(cfg, { now: ctx.now, metrics: ctx.metrics, logger: ctx.logger }), settings, holders: 0 };
  shared.holders++;
  let held = true;
  const { client } = shared;
  const alone = introspectionAuthenticator(client);
  const besideJwt = introspectionAuthenticator(client, { skipJwtShaped: true });
  const kind: AuthKind = {
    authenticatorFor: (route) => ((Array.isArray(route.auth) ? route.auth : [route.auth]).includes('jwt') ? besideJwt : alone),
    // Metadata discovery happens at load so the first request does not pay for it.
    ready: client.prefetch(),
    isReady: () => true,
    close: async () => {
      if (!held) return;
      held = false;
      if (--shared.holders === 0) await client.close();
    },
  };
  sharedClients.set(kind, shared);
  return kind;
}
