import type { IncomingMessage, ServerResponse } from 'node:http';
import * as oidc from 'openid-client';
import { asGatehouseError, GatehouseError } from '../errors.js';
import type { Logger } from '../log.js';
import { clearCookie, isGatewayNamespace, parseCookies, type CookieAttributes, type CookieLimits } from './cookies.js';
import type { Keyring } from './crypto.js';
import { checkCsrf, csrfCookie, type CsrfOptions } from './csrf.js';
import { redirect, sendJson, sendNoContent, sendProblem, type ResponseEnv } from './http-responses.js';
import type { EndedSession, SessionManager } from './manager.js';
import type { LoginResult, OidcClient } from './oidc-client.js';
import { leftCodeUnspent, providerFailureLog } from './provider-error.js';
import { LoginTransactions, type LoginTransaction } from './login-transactions.js';
import { safeReturnTo } from './return-to.js';
import { SESSION_ENDPOINTS_PATH } from './config-schema.js';
import { newHandle, type SessionData } from './session.js';
import type { Clock } from './store.js';

export interface SessionEndpointsOptions {
  readonly manager: SessionManager;
  readonly client: OidcClient;
  /** Master keys; the login transaction cookie uses its own subkeys. */
  readonly keyring: Keyring;
  /** The gateway's public origin, e.g. `https://app.example.com`. */
  readonly publicOrigin: string;
  /** Origins (besides our own) `return_to` may point to. */
  readonly returnToOrigins: readonly string[];
  readonly csrf: CsrfOptions;
  readonly now: Clock;
  /** Absolute session lifetime, for the CSRF cookie. */
  readonly absoluteSeconds: number;
  /** Continue logout at the provider's end-session endpoint. */
  readonly endSession: boolean;
  /** Where the provider returns after end-session (registered there), or where logout lands. */
  readonly postLogoutRedirectUri?: string;
  /** Mount point. Default `/auth`. */
  readonly basePath?: string;
  readonly cookieLimits?: CookieLimits;
  readonly cookieAttributes?: Omit<CookieAttributes, 'maxAgeSeconds'>;
  /** Told each completed (or failed) callback (metrics). */
  readonly onLogin?: (result: 'ok' | 'failed') => void;
}

const LOGIN_TTL_SECONDS = 600;

/**
 * Added to the query of a login sent on to publicUrl's host. Arriving there with it and still
 * under another Host, the gateway is behind a proxy that rewrites Host (nginx's default) and
 * the browser is on publicUrl's host already: the login goes ahead rather than loop.
 */
const HOST_REDIRECTED = 'host_redirected';

/**
 * What the gateway hands an endpoint with each request: where to report what
 * the operator must know (the request id ties a line to the request's
 * access-log entry), and what every answer carries (request id, HSTS, realm).
 */
export interface EndpointEnv extends ResponseEnv {
  readonly logger: Logger;
  /** The host the browser asked for (Host, or a trusted proxy's X-Forwarded-Host); undefined when none was sent. */
  readonly host: string | undefined;
}

/** One request to an endpoint, with the cookies it brought and the ones its response sets. */
interface Exchange {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly query: string;
  readonly cookies: Map<string, string>;
  readonly setCookies: string[];
  readonly env: EndpointEnv;
}

const ENDPOINTS: Readonly<Record<string, { name: 'login' | 'callback' | 'refresh' | 'logout' | 'sessions' | 'session'; methods: readonly string[] }>> = {
  '/login': { name: 'login', methods: ['GET'] },
  '/callback': { name: 'callback', methods: ['GET'] },
  '/refresh': { name: 'refresh', methods: ['POST'] },
  '/logout': { name: 'logout', methods: ['POST'] },
  '/sessions': { name: 'sessions', methods: ['GET', 'DELETE'] },
  '/sessions/{id}': { name: 'session', methods: ['DELETE'] },
};

/**
 * The gateway's own browser endpoints (backend-for-frontend):
 *
 * - `GET  /auth/login?return_to=` — starts code + PKCE + state + nonce, on publicUrl's host (sent there first from any other);
 * - `GET  /auth/callback` — completes it, issues a fresh session;
 * - `POST /auth/refresh` — a fresh access token for an SPA (token-handler pattern);
 * - `POST /auth/logout` — ends the session, revokes its refresh token, clears cookies;
 * - `GET  /auth/sessions`, `DELETE /auth/sessions/{id}`, `DELETE /auth/sessions` (all others).
 */
export class SessionEndpoints {
  readonly basePath: string;
  private readonly tx: LoginTransactions;
  private readonly publicHost: string;
  private readonly publicProtocol: string;
  private warnedHostRewrite = false;

  constructor(private readonly o: SessionEndpointsOptions) {
    this.basePath = o.basePath ?? SESSION_ENDPOINTS_PATH;
    const publicUrl = new URL(o.publicOrigin);
    this.publicHost = publicUrl.host;
    this.publicProtocol = publicUrl.protocol;
    this.tx = new LoginTransactions({ keyring: o.keyring.derive('login-transaction'), ttlSeconds: LOGIN_TTL_SECONDS, now: o.now, attributes: o.cookieAttributes });
  }

  /**
   * True for cookie names the gateway owns: the whole `__Host-gh_` namespace,
   * not only this mode's names. After a switch between stateful and stateless
   * (or while a rolling deploy runs both), browsers still hold the other mode's
   * cookies until their absolute end, and those carry a session id or sealed
   * tokens no upstream may see.
   */
  isGatewayCookie(name: string): boolean {
    return (
      isGatewayNamespace(name) ||
      this.o.manager.isSessionCookie(name) ||
      name === (this.o.csrf.cookieName ?? '__Host-gh_csrf') ||
      this.tx.isOwnCookie(name)
    );
  }

  /** True for paths these endpoints own (the gateway serves them before routing). */
  matches(path: string): boolean {
    return path === this.basePath || path.startsWith(`${this.basePath}/`);
  }

  /**
   * Serves one request; never throws (errors become problem responses).
   * Failed provider calls (discovery, login, refresh) go to `env.logger`.
   */
  async handle(req: IncomingMessage, res: ServerResponse, path: string, query: string, env: EndpointEnv): Promise<void> {
    const setCookies: string[] = [];
    let cookies: Map<string, string> = new Map();
    let allow: string | undefined;
    try {
      cookies = parseCookies(req.headers.cookie, this.o.cookieLimits);
      const sub = path.slice(this.basePath.length);
      const handle = /^\/sessions\/[A-Za-z0-9_-]{1,64}$/.test(sub) ? sub.slice('/sessions/'.length) : undefined;
      const endpoint = handle !== undefined ? ENDPOINTS['/sessions/{id}'] : Object.hasOwn(ENDPOINTS, sub) ? ENDPOINTS[sub] : undefined;
      if (endpoint === undefined) throw new GatehouseError('GH_ROUTE_NOT_FOUND', 'no such endpoint');
      if (!endpoint.methods.includes(req.method ?? 'GET')) {
        allow = endpoint.methods.join(', ');
        throw new GatehouseError('GH_METHOD_NOT_ALLOWED', 'method not allowed here');
      }
      const x: Exchange = { req, res, query, cookies, setCookies, env };
      switch (endpoint.name) {
        case 'login':
          return await this.login(x);
        case 'callback':
          try {
            await this.callback(x);
            this.o.onLogin?.('ok');
          } catch (err) {
            this.o.onLogin?.('failed');
            throw err;
          }
          return;
        case 'refresh':
          return await this.refresh(x);
        case 'logout':
          return await this.logout(x);
        case 'sessions':
          return await this.sessions(x);
        case 'session':
          return await this.endOne(x, handle as string);
      }
    } catch (err) {
      if (err instanceof GatehouseError) providerFailureLog(env.logger).report(err, env.requestId);
      // Not one of ours: a bug, answered 500 GH_INTERNAL as on routes (onUnexpected), and the
      // operator gets the only trace of it. The log redacts credential fields; our errors never carry one.
      else env.logger.error({ err, requestId: env.requestId }, 'session endpoint failed');
      const e = asGatehouseError(err);
      if (e.code === 'GH_SESSION_INVALID' || e.code === 'GH_SESSION_EXPIRED') setCookies.push(...this.o.manager.clearCookies(cookies));
      sendProblem(res, env, e, setCookies, allow);
    }
  }

  private async login({ res, env, query, cookies, setCookies }: Exchange): Promise<void> {
    const params = new URLSearchParams(query.startsWith('?') ? query.slice(1) : query);
    // The transaction cookie is host-only (`__Host-`) and the provider returns to publicUrl's host:
    // a login started under another host name could never complete. Always publicUrl, never the
    // request's own host, so this cannot send anyone elsewhere.
    if (!this.isPublicHost(env.host)) {
      if (!params.has(HOST_REDIRECTED)) {
        return redirect(res, env, `${this.o.publicOrigin}${this.basePath}/login${query.startsWith('?') ? `${query}&` : '?'}${HOST_REDIRECTED}=1`, setCookies);
      }
      if (!this.warnedHostRewrite) {
        this.warnedHostRewrite = true;
        env.logger.warn({ requestId: env.requestId }, "a login sent to publicUrl's host arrived under another Host again: a proxy in front rewrites Host; have it pass the original (or X-Forwarded-Host, with trustedProxies)");
      }
    }
    const returnTo = safeReturnTo(params.get('return_to'), this.o.publicOrigin, this.o.returnToOrigins);
    const t: LoginTransaction = {
      state: oidc.randomState(),
      nonce: oidc.randomNonce(),
      verifier: oidc.randomPKCECodeVerifier(),
      returnTo,
      startedAt: this.o.now(),
    };
    const url = await this.o.client.authorizationUrl({ state: t.state, nonce: t.nonce, codeVerifier: t.verifier });
    setCookies.push(...(await this.tx.begin(t, cookies)));
    redirect(res, env, url.href, setCookies);
  }

  /** Whether `host` is publicUrl's (case and default port aside); an unknown host (HTTP/1.0 without Host) is not judged. */
  private isPublicHost(host: string | undefined): boolean {
    if (host === undefined || host === '') return true;
    if (host === this.publicHost) return true;
    try {
      return new URL(`${this.publicProtocol}//${host}`).host === this.publicHost;
    } catch {
      return false;
    }
  }

  private async callback({ req, res, env, query, cookies, setCookies }: Exchange): Promise<void> {
    // The transaction is single-use: cleared once the provider has ruled on the code, whatever it said. Other
    // logins in flight in this browser stay.
    const taken = await this.tx.take(new URLSearchParams(query).get('state'), cookies);
    const t = taken.transaction;
    if (!t) {
      setCookies.push(...taken.setCookies);
      throw new GatehouseError('GH_LOGIN_FAILED', 'no login in progress in this browser (or it took too long)');
    }
    const callbackUrl = new URL(this.o.client.opts.redirectUri);
    callbackUrl.search = query;
    let result: LoginResult;
    try {
      result = await this.o.client.completeLogin(callbackUrl, { state: t.state, nonce: t.nonce, codeVerifier: t.verifier });
    } catch (err) {
      // The provider down or failing before it ruled on the code: the 503 keeps the transaction, so
      // reloading the callback page completes the login once it is back (within the transaction's ttl).
      if (!leftCodeUnspent(err)) setCookies.push(...taken.setCookies);
      throw err;
    }
    setCookies.push(...taken.setCookies);
    const now = this.o.now();
    const ua = req.headers['user-agent'];
    const data: SessionData = {
      handle: newHandle(),
      issuer: result.issuer,
      subject: result.subject,
      claims: result.claims,
      tokens: result.tokens,
      createdAt: now,
      lastSeenAt: now,
      ...(ua ? { userAgent: ua.slice(0, 256) } : {}),
    };
    // A failure here (the store down, tokens too large for the cookies) leaves the refresh token just issued
    // held by no session, and it is not revoked: it lapses by its own lifetime. The provider may have given this
    // login the grant of another session of this browser that lives on (oidc-provider keeps one grant per
    // provider session and client), revoking a refresh token revokes its whole grant, and which sessions share
    // it (the same `sid`) cannot be told with the store down.
    const created = await this.o.manager.create(data, cookies);
    setCookies.push(...created.setCookies);
    // The user's oldest sessions, beyond the bound: as when ending other sessions, revoked only if safe (endedSessions).
    await this.o.client.revokeAll(refreshTokensOf(created.ended));
    if (this.o.csrf.doubleSubmit) setCookies.push(csrfCookie(this.o.csrf, this.o.cookieAttributes ?? {}, this.o.absoluteSeconds));
    redirect(res, env, t.returnTo, setCookies);
  }

  private async refresh(x: Exchange): Promise<void> {
    const { req, res, env, cookies, setCookies } = x;
    checkCsrf(req.method, req.headers, cookies, this.o.csrf);
    const s = await this.requireSession(x);
    const t = s.tokens;
    sendJson(res, env, 200, {
      access_token: t.accessToken,
      token_type: 'Bearer',
      expires_in: Math.max(0, t.accessTokenExpiresAt - Math.floor(this.o.now() / 1000)),
      ...(t.scope ? { scope: t.scope } : {}),
    }, setCookies);
  }

  private async logout({ req, res, env, cookies, setCookies }: Exchange): Promise<void> {
    checkCsrf(req.method, req.headers, cookies, this.o.csrf);
    // The browser forgets the session whatever follows, a 503 included: a user who logged out
    // must not stay signed in on this device because the store was down at that moment.
    setCookies.push(...this.o.manager.clearCookies(cookies));
    if (cookies.has(this.o.csrf.cookieName ?? '__Host-gh_csrf')) setCookies.push(clearCookie(this.o.csrf.cookieName ?? '__Host-gh_csrf', { ...this.o.cookieAttributes, httpOnly: false }));
    let ended: SessionData | undefined;
    try {
      ended = await this.o.manager.destroy(cookies);
    } catch (err) {
      // Not ended in the store, so a copy of the cookie still works. A stateless cookie holds its
      // refresh token: revoked at the provider (no store needed), the copy dies at its next refresh.
      const carried = await this.o.manager.carriedSession(cookies);
      if (carried?.tokens.refreshToken) await this.o.client.revoke(carried.tokens.refreshToken);
      throw err;
    }
    const revoked = ended?.tokens.refreshToken ? await this.o.client.revoke(ended.tokens.refreshToken) : false;
    const endSessionUrl =
      this.o.endSession && ended ? await this.o.client.endSessionUrl({ idTokenHint: ended.tokens.idToken, postLogoutRedirectUri: this.o.postLogoutRedirectUri }) : undefined;
    if (req.headers['sec-fetch-mode'] === 'navigate') {
      return redirect(res, env, endSessionUrl?.href ?? this.o.postLogoutRedirectUri ?? '/', setCookies, 303);
    }
    sendJson(res, env, 200, { ended: ended !== undefined, revoked, ...(endSessionUrl ? { end_session_url: endSessionUrl.href } : {}) }, setCookies);
  }

  private async sessions(x: Exchange): Promise<void> {
    const { req, res, env, cookies, setCookies } = x;
    if (req.method === 'DELETE') checkCsrf(req.method, req.headers, cookies, this.o.csrf);
    const current = await this.requireSession(x);
    if (req.method === 'DELETE') {
      const ended = await this.o.manager.destroyOthers(current);
      // As logout does: ended here, their refresh tokens must not stay live at the provider. The manager hands
      // back only those whose grant no session that lives on may share (endedSessions).
      await this.o.client.revokeAll(refreshTokensOf(ended));
      sendJson(res, env, 200, { ended: ended.length }, setCookies);
      return;
    }
    sendJson(res, env, 200, { sessions: await this.o.manager.list(current) }, setCookies);
  }

  private async endOne(x: Exchange, handle: string): Promise<void> {
    const { req, res, env, cookies, setCookies } = x;
    checkCsrf(req.method, req.headers, cookies, this.o.csrf);
    const current = await this.requireSession(x);
    const ended = await this.o.manager.destroyHandle(current, handle);
    if (ended === undefined) throw new GatehouseError('GH_SESSION_NOT_FOUND', 'no such session');
    await this.o.client.revokeAll(refreshTokensOf(ended));
    if (handle === current.handle) setCookies.push(...this.o.manager.clearCookies(cookies));
    sendNoContent(res, env, setCookies);
  }

  private async requireSession({ cookies, setCookies, env }: Exchange): Promise<SessionData> {
    const s = await this.o.manager.resume(cookies);
    if (!s) throw new GatehouseError('GH_SESSION_MISSING', 'no session');
    setCookies.push(...s.setCookies);
    // A refresh that failed while the token was still valid: answered with that token, logged for the operator.
    if (s.refreshFailure !== undefined) providerFailureLog(env.logger).report(s.refreshFailure, env.requestId);
    return s.data;
  }
}

function refreshTokensOf(ended: readonly EndedSession[]): string[] {
  return ended.flatMap((e) => (e.refreshToken === undefined ? [] : [e.refreshToken]));
}
