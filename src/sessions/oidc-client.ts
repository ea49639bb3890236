import { setTimeout as sleep } from 'node:timers/promises';
import * as oidc from 'openid-client';
import { GatehouseError, type ErrorCode } from '../errors.js';
import { ProviderError, safeCode, type ProviderFailureFacts } from './provider-error.js';
import type { SessionTokens } from './refresh.js';
import { systemClock, type Clock } from './store.js';
import { isLoopbackAddress } from '../loopback.js';

export interface OidcClientOptions {
  /** Issuer URL; its discovery document names every endpoint. */
  readonly issuer: string;
  readonly clientId: string;
  /** Absent for a public client (PKCE only). */
  readonly clientSecret?: string;
  /** `<public URL>/auth/callback`, registered at the provider. */
  readonly redirectUri: string;
  readonly scope: string;
  /** RFC 8707 resource indicator for the access token, when the provider wants one. */
  readonly resource?: string;
  /** Timeout of each call to the provider. Default 5000. */
  readonly timeoutMs?: number;
  readonly now?: Clock;
}

/** What a completed login yields. */
export interface LoginResult {
  readonly tokens: SessionTokens;
  readonly issuer: string;
  readonly subject: string;
  readonly claims: Record<string, unknown>;
}

/** The claims request parameter asking for the provider session id in the ID token. */
const SID_CLAIMS = JSON.stringify({ id_token: { sid: null } });

/** Revocation requests in flight at once when several sessions end together. */
const REVOKE_CONCURRENCY = 4;

// ID token claims that describe the token, not the user.
const TECHNICAL_CLAIMS = new Set(['aud', 'exp', 'iat', 'nbf', 'nonce', 'at_hash', 'c_hash', 's_hash', 'azp', 'jti']);

const isLoopback = (u: URL): boolean => isLoopbackAddress(u.hostname);

/**
 * The gateway's OpenID Connect client (openid-client): authorization code +
 * PKCE with state and nonce, refresh, revocation, end-session. Discovery runs
 * on first use and is retried until it succeeds, so the gateway may start
 * before its provider.
 */
export class OidcClient {
  private server: oidc.ServerMetadata | undefined;
  private discovering: Promise<oidc.ServerMetadata> | undefined;
  private cached: oidc.Configuration | undefined;
  private readonly now: Clock;
  private readonly timeoutMs: number;

  constructor(readonly opts: OidcClientOptions) {
    this.now = opts.now ?? systemClock;
    this.timeoutMs = opts.timeoutMs ?? 5000;
    const issuer = new URL(opts.issuer);
    if (issuer.protocol !== 'https:' && !isLoopback(issuer)) throw new RangeError('the provider issuer must be https (or http on loopback)');
  }

  /** The authorization request URL for one login attempt. */
  async authorizationUrl(p: { state: string; nonce: string; codeVerifier: string }): Promise<URL> {
    const config = await this.config();
    // `sid` in the ID token tells which logins share a grant (endedSessions). Many providers send it unasked;
    // one that supports the claims parameter is asked for it (OIDC Core §5.5: voluntary, so never refused).
    const askSid = config.serverMetadata().claims_parameter_supported === true;
    return oidc.buildAuthorizationUrl(config, {
      redirect_uri: this.opts.redirectUri,
      scope: this.opts.scope,
      response_type: 'code',
      state: p.state,
      nonce: p.nonce,
      code_challenge: await oidc.calculatePKCECodeChallenge(p.codeVerifier),
      code_challenge_method: 'S256',
      ...(this.opts.resource ? { resource: this.opts.resource } : {}),
      ...(askSid ? { claims: SID_CLAIMS } : {}),
    });
  }

  /** Completes a login from the callback URL: checks state, exchanges the code with PKCE, validates the ID token and nonce. */
  async completeLogin(callbackUrl: URL, p: { state: string; nonce: string; codeVerifier: string }): Promise<LoginResult> {
    const config = await this.config();
    try {
      const res = await oidc.authorizationCodeGrant(
        config,
        callbackUrl,
        { pkceCodeVerifier: p.codeVerifier, expectedState: p.state, expectedNonce: p.nonce, idTokenExpected: true },
        this.opts.resource ? { resource: this.opts.resource } : undefined,
      );
      const idClaims = res.claims();
      if (!idClaims) throw new GatehouseError('GH_LOGIN_FAILED', 'the provider returned no ID token');
      const claims: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(idClaims)) if (!TECHNICAL_CLAIMS.has(k)) claims[k] = v;
      // A token response may leave `scope` out when it is the one requested (RFC 6749 §5.1).
      return { tokens: this.tokensOf(res, this.opts.scope), issuer: idClaims.iss, subject: idClaims.sub, claims };
    } catch (err) {
      throw classify(err, 'login');
    }
  }

  /** Refresh grant; GH_SESSION_EXPIRED when refused, GH_PROVIDER_UNAVAILABLE when unreachable or failing. */
  readonly refresh = async (refreshToken: string): Promise<SessionTokens> => {
    const config = await this.config();
    try {
      const res = await oidc.refreshTokenGrant(config, refreshToken, this.opts.resource ? { resource: this.opts.resource } : undefined);
      return this.tokensOf(res);
    } catch (err) {
      throw classify(err, 'refresh');
    }
  };

  /** RFC 7009 revocation; best effort: resolves false when the provider could not be told. */
  async revoke(refreshToken: string): Promise<boolean> {
    try {
      const config = await this.config();
      if (!config.serverMetadata().revocation_endpoint) return false;
      await oidc.tokenRevocation(config, refreshToken, { token_type_hint: 'refresh_token' });
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Revokes each refresh token, best effort, at most {@link REVOKE_CONCURRENCY} at a time
   * (ending a hundred sessions must not open a hundred connections to the provider at once).
   * Resolves once all are done or after one provider timeout, whichever comes first: the caller
   * waits no longer than a logout's revocation would, and the rest carry on.
   */
  async revokeAll(refreshTokens: readonly string[]): Promise<void> {
    if (refreshTokens.length === 0) return;
    const queue = [...refreshTokens];
    const worker = async (): Promise<void> => {
      for (let t = queue.shift(); t !== undefined; t = queue.shift()) await this.revoke(t);
    };
    const all = Promise.all(Array.from({ length: Math.min(REVOKE_CONCURRENCY, queue.length) }, worker));
    const waited = new AbortController();
    await Promise.race([all, sleep(this.timeoutMs, undefined, { signal: waited.signal, ref: false }).catch(() => undefined)]);
    waited.abort();
  }

  /** RP-initiated logout URL, or undefined when the provider has no end-session endpoint. */
  async endSessionUrl(p: { idTokenHint?: string; postLogoutRedirectUri?: string }): Promise<URL | undefined> {
    const config = await this.config().catch(() => undefined);
    if (!config?.serverMetadata().end_session_endpoint) return undefined;
    return oidc.buildEndSessionUrl(config, {
      client_id: this.opts.clientId,
      ...(p.idTokenHint ? { id_token_hint: p.idTokenHint } : {}),
      ...(p.postLogoutRedirectUri ? { post_logout_redirect_uri: p.postLogoutRedirectUri } : {}),
    });
  }

  /**
   * The session's tokens from a token response. `requested`: the scope the
   * grant asked for, which an answer without `scope` was granted. A refresh asks
   * for none, and its answer without `scope` keeps the session's (mergeTokens).
   */
  private tokensOf(res: oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers, requested?: string): SessionTokens {
    const scope = res.scope ?? requested;
    const nowSeconds = Math.floor(this.now() / 1000);
    const expiresIn = res.expiresIn() ?? jwtLifetime(res.access_token, nowSeconds) ?? 300;
    return {
      accessToken: res.access_token,
      accessTokenExpiresAt: nowSeconds + expiresIn,
      accessTokenIssuedAt: nowSeconds,
      ...(res.refresh_token ? { refreshToken: res.refresh_token } : {}),
      ...(res.id_token ? { idToken: res.id_token } : {}),
      ...(scope ? { scope } : {}),
    };
  }

  /**
   * The client configuration. ID token time checks use the real clock, not the
   * injected one: the provider stamps tokens with real time, and the injected
   * clock only drives the gateway's own session and refresh decisions.
   */
  private async config(): Promise<oidc.Configuration> {
    if (this.cached) return this.cached;
    const server = await this.serverMetadata();
    const auth = this.opts.clientSecret ? oidc.ClientSecretBasic(this.opts.clientSecret) : oidc.None();
    const config = new oidc.Configuration(server, this.opts.clientId, undefined, auth);
    this.configure(config);
    this.cached = config;
    return config;
  }

  private configure(config: oidc.Configuration): void {
    if (isLoopback(new URL(this.opts.issuer))) oidc.allowInsecureRequests(config);
    config.timeout = Math.ceil(this.timeoutMs / 1000);
  }

  private async serverMetadata(): Promise<oidc.ServerMetadata> {
    if (this.server) return this.server;
    this.discovering ??= (async () => {
      try {
        const discovered = await oidc.discovery(new URL(this.opts.issuer), this.opts.clientId, undefined, undefined, {
          timeout: Math.ceil(this.timeoutMs / 1000),
          ...(isLoopback(new URL(this.opts.issuer)) ? { execute: [oidc.allowInsecureRequests] } : {}),
        });
        this.server = discovered.serverMetadata();
        return this.server;
      } catch (err) {
        throw new ProviderError('GH_PROVIDER_UNAVAILABLE', 'identity provider discovery failed', { call: 'discovery', ...transportFacts(err) }, { cause: err });
      } finally {
        this.discovering = undefined;
      }
    })();
    return this.discovering;
  }
}

// RFC 6749 §5.2: the provider refuses the gateway's client itself; no retry helps until the configuration is fixed.
const CLIENT_ERRORS = new Set(['invalid_client', 'unauthorized_client']);

type Facts = Omit<ProviderFailureFacts, 'call'>;

/**
 * Maps an openid-client failure to our codes, with the facts an operator needs
 * (OAuth error code, HTTP status); the provider's own text never reaches the
 * client, nor a log.
 */
export function classify(err: unknown, during: 'login' | 'refresh'): GatehouseError {
  if (err instanceof GatehouseError) return err;
  const fail = (code: ErrorCode, message: string, facts: Facts) => new ProviderError(code, message, { call: during, ...facts }, { cause: err });
  const unavailable = (facts: Facts) => fail('GH_PROVIDER_UNAVAILABLE', 'identity provider unavailable', facts);
  // Only a refresh answers 503 for what a login reports as a failed login.
  const refused = (facts: Facts) => (during === 'refresh' ? unavailable(facts) : fail('GH_LOGIN_FAILED', 'the provider refused the login', facts));
  if (err instanceof oidc.ResponseBodyError) {
    const answered = { httpStatus: err.status, ...optional('oauthError', safeCode(err.error)) };
    if (err.status >= 500) return unavailable({ kind: 'server_error', ...answered });
    if (err.error === 'invalid_grant') {
      return during === 'refresh'
        ? fail('GH_SESSION_EXPIRED', 'the provider refused the refresh token', { kind: 'grant_refused', ...answered })
        : fail('GH_LOGIN_FAILED', 'the authorization code was refused', { kind: 'grant_refused', ...answered });
    }
    // A 401 from the token endpoint is a failed client authentication, whatever its code.
    return refused({ kind: CLIENT_ERRORS.has(err.error) || err.status === 401 ? 'client_rejected' : 'oauth_error', ...answered });
  }
  if (err instanceof oidc.WWWAuthenticateChallengeError) {
    // The same refusal with a challenge header (openid-client then leaves the body unread).
    const code = safeCode(err.cause.find((c) => c.parameters.error !== undefined)?.parameters.error);
    return refused({ kind: err.status === 401 || (code !== undefined && CLIENT_ERRORS.has(code)) ? 'client_rejected' : 'oauth_error', httpStatus: err.status, ...optional('oauthError', code) });
  }
  if (err instanceof oidc.AuthorizationResponseError) return fail('GH_LOGIN_FAILED', 'the provider refused the login', { kind: 'oauth_error', ...optional('oauthError', safeCode(err.error)) });
  const facts = transportFacts(err);
  if (facts.kind !== 'invalid_response') return unavailable(facts);
  return during === 'refresh' ? unavailable(facts) : fail('GH_LOGIN_FAILED', 'the login response did not validate', facts);
}

/** A failure before or beside any OAuth answer: timeout, network, a 5xx or a response that is not OAuth (an HTML 502 from a proxy). */
function transportFacts(err: unknown): Facts {
  const e = err as { name?: unknown; code?: unknown; cause?: unknown } | null;
  const cause = e?.cause as { code?: unknown } | undefined;
  // openid-client reports its own timeout (config.timeout) as a ClientError with code OAUTH_TIMEOUT, not as the
  // DOMException: matching the name alone let a slow code exchange answer 400 GH_LOGIN_FAILED instead of 503.
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError' || e?.code === 'OAUTH_TIMEOUT' || e?.code === 'OAUTH_ABORT') return { kind: 'timeout' };
  if (err instanceof TypeError) return { kind: 'unreachable', ...optional('reason', safeCode(cause?.code)) };
  const status = e?.cause instanceof Response ? e.cause.status : undefined;
  if (status !== undefined && status >= 500) return { kind: 'server_error', httpStatus: status };
  return { kind: 'invalid_response', ...optional('reason', safeCode(e?.code)), ...(status !== undefined ? { httpStatus: status } : {}) };
}

function optional<K extends string>(key: K, value: string | undefined): { [k in K]?: string } {
  return (value === undefined ? {} : { [key]: value }) as { [k in K]?: string };
}

function jwtLifetime(token: string, nowSeconds: number): number | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  try {
    const exp = (JSON.parse(Buffer.from(parts[1] as string, 'base64url').toString()) as { exp?: unknown }).exp;
    return typeof exp === 'number' ? Math.max(0, exp - nowSeconds) : undefined;
  } catch {
    return undefined;
  }
}
