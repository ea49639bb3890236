import type { IncomingMessage } from 'node:http';
import { GatehouseError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { parseCookies, withoutCookies, type CookieLimits } from '../../sessions/cookies.js';
import { checkCsrf } from '../../sessions/csrf.js';
import { providerFailureLog } from '../../sessions/provider-error.js';
import type { SessionRuntime } from '../../sessions/runtime.js';
import type { SessionData } from '../../sessions/session.js';
import { scopeSet, type Identity } from '../../tokens/identity.js';
import type { AuthnResult, RequestContext } from '../context.js';
import type { SyncCapableAuthenticator } from '../run.js';
import { routeAuthKinds, type AuthKind, type AuthKindContext } from './index.js';

export interface SessionAuthOptions {
  readonly runtime: SessionRuntime;
  /** What a request without a usable session gets: see the route's `login` setting. */
  readonly login: 'auto' | 'redirect' | 'status';
  /** The route also admits anonymous callers (`auth` includes `none`). */
  readonly allowAnonymous: boolean;
  readonly cookieLimits?: CookieLimits;
  /** Where failed provider calls (a refresh) are reported; none in unit tests. */
  readonly logger?: Logger;
}

/**
 * Authenticates by the session cookie (kind `session`). A request carrying a
 * Bearer token is left to the token authenticators. On success the upstream
 * request carries `Authorization: Bearer <access token>` (refreshed first when
 * it expires within the skew) and none of the gateway's cookies. Unsafe
 * methods must pass the CSRF check. Without a usable session, page navigations
 * are redirected to login and API calls get 401, per the route's `login`.
 */
export function sessionAuthenticator(o: SessionAuthOptions): SyncCapableAuthenticator {
  const { runtime } = o;
  const { manager } = runtime;
  const clientId = runtime.config.provider.clientId;
  return {
    kind: 'session',
    // The common case decided without a promise: a session the manager holds in process, nothing to refresh or write.
    authenticateSync(ctx) {
      if (ctx.credential?.bearer !== undefined) return SKIPPED;
      const req = ctx.req;
      const cookies = parseCookies(req.headers.cookie, o.cookieLimits);
      const resumed = manager.resumeSync(cookies);
      if (resumed === undefined) return undefined;
      checkCsrf(req.method, req.headers, cookies, runtime.csrf);
      return admit(req, resumed.data);
    },
    async authenticate(ctx) {
      if (ctx.credential?.bearer !== undefined) return { status: 'skipped' };
      const req = ctx.req;
      const cookies = parseCookies(req.headers.cookie, o.cookieLimits);
      let present = false;
      for (const name of cookies.keys()) if (manager.isSessionCookie(name)) present = true;
      if (!present) {
        // Another credential was sent (a non-Bearer Authorization): let the pipeline judge it.
        if (o.allowAnonymous || ctx.credential !== undefined) return { status: 'skipped' };
        throw unauthenticated(ctx, new GatehouseError('GH_SESSION_MISSING', 'this route requires a session'));
      }
      checkCsrf(req.method, req.headers, cookies, runtime.csrf);
      let data: SessionData;
      try {
        const resumed = await manager.resume(cookies);
        if (!resumed) throw new GatehouseError('GH_SESSION_MISSING', 'this route requires a session');
        data = resumed.data;
        addResponseHeaders(ctx, resumed.setCookies.flatMap((c) => ['set-cookie', c]));
        // Went on with a token still valid while its refresh failed: no error for the client, a line for the operator.
        if (resumed.refreshFailure !== undefined && o.logger !== undefined) providerFailureLog(o.logger).report(resumed.refreshFailure, ctx.requestId);
      } catch (err) {
        // A refresh the provider failed or refused: the answer alone (503, or 401) does not say why.
        if (o.logger !== undefined) providerFailureLog(o.logger).report(err, ctx.requestId);
        if (err instanceof GatehouseError && (err.code === 'GH_SESSION_INVALID' || err.code === 'GH_SESSION_EXPIRED')) {
          addResponseHeaders(ctx, manager.clearCookies(cookies).flatMap((c) => ['set-cookie', c]));
          throw unauthenticated(ctx, err);
        }
        throw err;
      }
      return admit(req, data);
    },
  };

  function admit(req: IncomingMessage, data: SessionData): AuthnResult {
    // The upstream gets the access token, never the session cookie.
    req.headers.authorization = bearerHeader(data);
    // Assigned, not deleted: `delete` turns the headers object into a slow dictionary, and
    // building the upstream headers then cost 0.4–0.6 µs more. Undefined values are never forwarded.
    req.headers.cookie = withoutCookies(req.headers.cookie, runtime.isGatewayCookie);
    return { status: 'authenticated', identity: identityOf(data, clientId) };
  }

  function unauthenticated(ctx: RequestContext, err: GatehouseError): GatehouseError {
    if (!wantsRedirect(ctx.req, o.login)) return err;
    addResponseHeaders(ctx, ['location', runtime.loginLocation(ctx.path, ctx.query)]);
    return new GatehouseError('GH_LOGIN_REQUIRED', 'login required');
  }
}

const SKIPPED: AuthnResult = Object.freeze({ status: 'skipped' });

function wantsRedirect(req: IncomingMessage, login: SessionAuthOptions['login']): boolean {
  if (login === 'status' || (req.method !== 'GET' && req.method !== 'HEAD')) return false;
  if (login === 'redirect') return true;
  const mode = req.headers['sec-fetch-mode'];
  if (mode !== undefined) return mode === 'navigate';
  return (req.headers.accept ?? '').includes('text/html');
}

function addResponseHeaders(ctx: RequestContext, headers: readonly string[]): void {
  if (headers.length === 0) return;
  (ctx.responseHeaders ??= []).push(...headers);
}

// Sessions come back as the same objects while unchanged (the managers cache them), so their identities can be reused.
const identities = new WeakMap<SessionData, Identity>();

// Likewise the Authorization value: a ~1 KB string built per request was this path's largest allocation.
const bearerHeaders = new WeakMap<SessionData, string>();

function bearerHeader(data: SessionData): string {
  let value = bearerHeaders.get(data);
  if (value === undefined) bearerHeaders.set(data, (value = `Bearer ${data.tokens.accessToken}`));
  return value;
}

/** The identity a session stands for; scopes are those the provider granted the access token. */
export function identityOf(data: SessionData, clientId: string): Identity {
  const known = identities.get(data);
  if (known !== undefined && known.clientId === clientId) return known;
  const identity = buildIdentity(data, clientId);
  identities.set(data, identity);
  return identity;
}

function buildIdentity(data: SessionData, clientId: string): Identity {
  const t = data.tokens;
  return Object.freeze({
    source: 'session',
    issuer: data.issuer,
    subject: data.subject,
    clientId,
    scopes: scopeSet((t.scope ?? '').split(' ')),
    claims: Object.freeze({ ...data.claims, iss: data.issuer, sub: data.subject }),
    expiresAt: t.accessTokenExpiresAt,
    tokenId: jwtId(t.accessToken),
    accessToken: t.accessToken,
  });
}

/**
 * The `jti` of a JWT access token (read, not verified: the gateway received it
 * from the provider's token endpoint itself), so a session request's identity
 * carries its token id as a bearer request's does.
 */
function jwtId(token: string): string | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  try {
    const jti = (JSON.parse(Buffer.from(parts[1] as string, 'base64url').toString('utf8')) as { jti?: unknown }).jti;
    return typeof jti === 'string' ? jti : undefined;
  } catch {
    return undefined;
  }
}

/** The `session` auth kind: one authenticator per route (its `login` setting and whether it admits anonymous callers). */
export function createSessionKind(ctx: AuthKindContext): AuthKind {
  const runtime = ctx.sessions;
  if (runtime === undefined) throw new Error('auth kind session needs the sessions section');
  return {
    authenticatorFor: (route) =>
      sessionAuthenticator({
        runtime,
        login: route.login,
        allowAnonymous: routeAuthKinds(route).includes('none'),
        logger: ctx.logger,
      }),
    ready: runtime.ready,
    isReady: () => runtime.isReady(),
    // The gateway owns the runtime (sessions outlive a reload) and closes it.
    close: () => {},
  };
}
