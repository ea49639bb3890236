import Provider, { errors, interactionPolicy, type ClientMetadata, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import type { AccountStore } from './accounts/store.js';
import type { AuthClientConfig, AuthServiceConfig } from './config-schema.js';
import { escapeHtml, PAGE_HEADERS, renderPage } from './interactions/html.js';
import { activeKey, publishedKeys, type KeyFile } from './keys/store.js';

/** What the provider configuration needs besides the config section. */
export interface ProviderDeps {
  readonly cfg: AuthServiceConfig;
  readonly accounts: AccountStore;
  readonly adapter: NonNullable<Configuration['adapter']>;
  readonly keys: KeyFile;
  /** Epoch milliseconds. */
  readonly now: () => number;
}

const OIDC_SCOPES = ['openid', 'offline_access', 'profile'];

/** Which signing key is active and which are published; the provider is rebuilt when this changes. */
export function keyScheduleFingerprint(keys: KeyFile, nowMs: number): string {
  const now = Math.floor(nowMs / 1000);
  return `${activeKey(keys, now).kid}|${publishedKeys(keys, now).map((k) => k.kid).join(',')}`;
}

/**
 * Builds an oidc-provider instance from the `auth:` config. The service owns
 * the policy here; the protocol itself (codes, PKCE, token formats, rotation
 * and reuse detection, introspection, revocation) is oidc-provider's.
 */
export function createProvider(deps: ProviderDeps): Provider {
  const { cfg, accounts, now } = deps;
  const nowSeconds = () => Math.floor(now() / 1000);
  const signing = activeKey(deps.keys, nowSeconds());
  // The active key first: oidc-provider signs ID tokens with the first key matching the algorithm.
  const published = publishedKeys(deps.keys, nowSeconds()).sort((a, b) => (a.kid === signing.kid ? -1 : b.kid === signing.kid ? 1 : 0));
  const clientsById = new Map(cfg.clients.map((c) => [c.clientId, c]));
  const resources = new Map(cfg.resources.map((r) => [r.indicator, r]));
  const allScopes = new Set([...OIDC_SCOPES, ...cfg.resources.flatMap((r) => r.scopes), ...cfg.clients.flatMap((c) => c.scopes)]);

  const configuration: Configuration = {
    adapter: deps.adapter,
    clients: cfg.clients.map((c) => toClientMetadata(c, signing.alg)),
    clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'none'],
    clientBasedCORS: (_ctx, origin, client) =>
      // Browsers may call the token endpoint only for public clients, from their redirect origin.
      client.clientAuthMethod === 'none' && (client.redirectUris ?? []).some((uri) => URL.parse(uri)?.origin === origin),
    cookies: { keys: [...cfg.cookieKeys] },
    jwks: { keys: published.map((k) => ({ ...k.jwk })) as NonNullable<Configuration['jwks']>['keys'] },
    enabledJWA: { idTokenSigningAlgValues: [...new Set(published.map((k) => k.alg))] },
    scopes: [...allScopes],
    claims: { openid: ['sub'], profile: ['preferred_username'] },
    responseTypes: ['code'],
    pkce: { required: () => true },
    allowOmittingSingleRegisteredRedirectUri: false,
    conformIdTokenClaims: true,
    features: {
      devInteractions: { enabled: false },
      // oidc-provider enables DPoP by default: a client sending a DPoP header got access tokens bound
      // to its key (`cnf.jkt`), and neither the gateway nor the kit checks DPoP proofs. Off, the
      // header is ignored, discovery advertises no DPoP, and every access token is a bearer token.
      dPoP: { enabled: false },
      clientCredentials: { enabled: true },
      // For one claim: `sid`, the browser session's id at the service, in the ID token. Two sign-ins with one
      // sid share one grant (oidc-provider keeps one per browser session and client), and revoking a refresh
      // token revokes its grant: the gateway asks for sid to know which of its sessions it may revoke alone.
      // Any other claim asked for by name is left out (OIDC Core §5.5: a claim not released is omitted, not
      // an error): the consent page lists scopes, not claims, so a user claim named here would reach a
      // client that its scopes do not let see it. auth_time and acr come as without the parameter.
      claimsParameter: {
        enabled: true,
        assertClaimsParameter: async (ctx, claims) => {
          const sid = (claims as { id_token?: Record<string, unknown> }).id_token?.sid;
          const kept = sid === undefined ? {} : { sid: sid !== null && typeof sid === 'object' ? sid : null };
          // Read again after this check (assignClaims): what it keeps is all that is asked.
          ctx.oidc.params!.claims = JSON.stringify({ id_token: kept });
        },
      },
      introspection: {
        enabled: true,
        // Confidential clients (the gateway, resource servers) may introspect access tokens; a
        // refresh token is its own client's business only (it reveals the user's grant and never
        // authorizes a call to a resource server), and public clients see only their own tokens.
        allowedPolicy: async (_ctx, client, token) => {
          if (token.clientId !== client.clientId && (client.clientAuthMethod === 'none' || token.kind === 'RefreshToken')) return false;
          // A removed account's tokens are dead (refresh and userinfo already fail: findAccount finds
          // nobody), though their records live on: removal (`gatehouse users remove`, often from
          // another process) touches only the account store, and neither model store can list a
          // user's grants. Asked here, the answer holds for both stores and for every remover.
          const accountId = token.kind === 'ClientCredentials' ? undefined : token.accountId;
          if (accountId === undefined) return true;
          const account = await accounts.findById(accountId);
          if (account === undefined) return false;
          // A refresh token from a sign-in older than the password is refused at the token endpoint
          // (findAccount): it reads inactive here too. Access tokens run out their short lives, as documented.
          const authTime = (token as { authTime?: unknown }).authTime;
          return !(token.kind === 'RefreshToken' && typeof authTime === 'number' && authTime < account.updatedAt);
        },
      },
      revocation: {
        enabled: true,
        // RFC 7009 §2.1: only the client a token was issued to may revoke it. Another client's token
        // gets the same empty 200 as an unknown one (§2.2), and stays live: an error for it told any
        // confidential client which refresh tokens of others exist, which introspection keeps from it.
        allowedPolicy: async (_ctx, client, token) => token.clientId === client.clientId,
      },
      userinfo: { enabled: true },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: async (ctx, form) => {
          // Signing out revokes what this browser session signed in to (every client's grant on
          // "yes", the asking client's on "no"), as oidc-provider does for authorizations that do
          // not persist logout. Ours all do (see expiresWithSession), so the mark is taken off here,
          // in the session saved with this page, which the confirmation then reads.
          for (const authorization of Object.values(ctx.oidc.session?.authorizations ?? {})) delete authorization.persistsLogout;
          ctx.set(PAGE_HEADERS);
          ctx.body = renderPage(
            'Sign out',
            `<p>Sign out of ${escapeHtml(ctx.host)}?</p>${form}
<button autofocus type="submit" form="op.logoutForm" value="yes" name="logout">Yes, sign me out</button>
<button class="secondary" type="submit" form="op.logoutForm">No, stay signed in</button>`,
          );
        },
        postLogoutSuccessSource: async (ctx) => {
          ctx.set(PAGE_HEADERS);
          ctx.body = renderPage('Signed out', '<p>You are signed out.</p>');
        },
      },
      resourceIndicators: {
        enabled: true,
        defaultResource: async (ctx, client, oneOf) => {
          if (oneOf) return Array.isArray(oneOf) ? (oneOf[0] as string) : oneOf;
          const allowed = clientsById.get(client.clientId)?.resources ?? [];
          // One audience per access token: at the token endpoint pick the first; at authorization grant all.
          if (ctx.oidc.route === 'token') return allowed[0] as string;
          return allowed.length > 1 ? [...allowed] : (allowed[0] as string);
        },
        useGrantedResource: async () => true,
        getResourceServerInfo: async (_ctx, indicator, client) => {
          const resource = resources.get(indicator);
          const clientCfg = clientsById.get(client.clientId);
          if (!resource || !clientCfg?.resources.includes(indicator)) throw new errors.InvalidTarget();
          const allowed = new Set(clientCfg.scopes);
          return {
            // Requested ∩ client allow-list ∩ what the resource understands.
            scope: resource.scopes.filter((s) => allowed.has(s)).join(' '),
            audience: indicator,
            accessTokenTTL: resource.accessTokenTtl ?? cfg.ttl.accessToken,
            accessTokenFormat: resource.accessTokenFormat,
            ...(resource.accessTokenFormat === 'jwt'
              ? { jwt: { sign: { alg: activeKey(deps.keys, nowSeconds()).alg, kid: activeKey(deps.keys, nowSeconds()).kid } } }
              : {}),
          };
        },
      },
    },
    issueRefreshToken: async (ctx, client) => {
      if (!client.grantTypeAllowed('refresh_token')) return false;
      // A sign-in's refresh token (this runs only at a code exchange) is good for refreshTokenAbsolute
      // from now, but a later sign-in reuses the grant, whose end was set once, when it was created:
      // the token would die with a grant made long before. The grant is extended here, where a
      // sign-in is known to have happened, not at every authorization request that finds it (a
      // refused prompt=none, an abandoned login form).
      const grant = ctx.oidc.entities.Grant;
      if (grant) {
        // On oidc-provider's clock, not the service's: it compares `exp` with Date.now(), and saves the
        // grant for `exp` minus that (the store counts the lifetime on the service's clock).
        grant.exp = Math.floor(Date.now() / 1000) + cfg.ttl.grant;
        await grant.save();
      }
      return true;
    },
    // A refresh token lives by ttl.refreshTokenIdle/Absolute, not as long as the browser session at
    // the service (ttl.session). oidc-provider ties a code's tokens to that session unless the request
    // kept `offline_access`, which it drops from any request without prompt=consent (the gateway's
    // included): the refresh token then died with the session, a day, whatever introspection said.
    // Tokens no longer end when the session expires; an explicit sign-out still revokes them (logoutSource).
    expiresWithSession: async () => false,
    // Every use rotates (RFC 9700 §4.14.2); oidc-provider revokes the grant when a consumed token comes back.
    rotateRefreshToken: true,
    findAccount: async (_ctx, sub, token) => {
      const account = await accounts.findById(sub);
      if (!account) return undefined;
      // A password set after a sign-in ends what that sign-in granted (RFC 9700 §4.14.2): after a
      // reset, a thief's refresh tokens and codes are refused (invalid_grant: to oidc-provider the
      // account reads as gone). The browser session is the login prompt's check (loginPolicy).
      const authTime = (token as { authTime?: unknown } | undefined)?.authTime;
      if (typeof authTime === 'number' && authTime < account.updatedAt) return undefined;
      return {
        accountId: account.id,
        claims: async () => ({ sub: account.id, preferred_username: account.username }),
      };
    },
    ttl: {
      AccessToken: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? cfg.ttl.accessToken,
      ClientCredentials: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? cfg.ttl.accessToken,
      AuthorizationCode: cfg.ttl.authorizationCode,
      IdToken: cfg.ttl.accessToken,
      Interaction: cfg.ttl.interaction,
      Session: cfg.ttl.session,
      Grant: cfg.ttl.grant,
      RefreshToken: (_ctx, token) => {
        // Idle: each rotation gets a fresh idle window. Absolute: never past the first issue + absolute.
        // A token issued at a sign-in (not a rotation) is that first issue: its `iiat` is stamped here,
        // on the service's clock, which measures the age below; oidc-provider stamped it from its own,
        // and under an injected clock a token issued after the clock moved looked that much older.
        if (!token.rotations) token.iiat = nowSeconds();
        const age = nowSeconds() - (token.iiat ?? token.iat ?? nowSeconds());
        return Math.max(1, Math.floor(Math.min(cfg.ttl.refreshTokenIdle, cfg.ttl.refreshTokenAbsolute - age)));
      },
    },
    interactions: { url: async (_ctx, interaction) => `/interaction/${interaction.uid}`, policy: loginPolicy(accounts) },
    renderError: async (ctx, out) => {
      // The login pages' headers on every page oidc-provider renders: none may be framed (a
      // framed sign-out button is a clickjacking target) or cached.
      ctx.set(PAGE_HEADERS);
      const items = Object.entries(out)
        .map(([k, v]) => `<dt>${escapeHtml(k)}</dt><dd>${escapeHtml(v)}</dd>`)
        .join('');
      ctx.body = renderPage('Something went wrong', `<dl>${items}</dl>`);
    },
  };
  const provider = new Provider(cfg.issuer, configuration);
  // The scheme and host of every request are the issuer's, set by the service's request
  // handler (issuerOriginPinner in index.ts); koa reads them from X-Forwarded-Proto/-Host only with this.
  provider.proxy = true;
  return provider;
}

function toClientMetadata(c: AuthClientConfig, idTokenAlg: ClientMetadata['id_token_signed_response_alg']): ClientMetadata {
  const method = c.tokenEndpointAuthMethod ?? (c.clientSecret === undefined ? 'none' : 'client_secret_basic');
  return {
    client_id: c.clientId,
    ...(c.clientSecret !== undefined ? { client_secret: c.clientSecret } : {}),
    token_endpoint_auth_method: method,
    redirect_uris: [...c.redirectUris],
    post_logout_redirect_uris: [...c.postLogoutRedirectUris],
    grant_types: [...c.grantTypes],
    response_types: c.grantTypes.includes('authorization_code') ? ['code'] : [],
    scope: c.scopes.join(' '),
    id_token_signed_response_alg: idTokenAlg,
  };
}

export type { KoaContextWithOIDC };

/**
 * oidc-provider's default prompts, with two more reasons to show the login form:
 * - the account was removed after the browser session signed in. oidc-provider
 *   itself does not check: it takes the session's account as signed in, and its
 *   consent check then fails on the missing account with a 500, for as long as
 *   the session cookie lives;
 * - the account's password was set after the browser session signed in. A
 *   session stolen before a reset would otherwise go on signing in as the user
 *   (and get new codes and refresh tokens) until it expired.
 */
function loginPolicy(accounts: AccountStore): ReturnType<typeof interactionPolicy.base> {
  const policy = interactionPolicy.base();
  const login = policy.get('login');
  if (!login) throw new Error('oidc-provider has no login prompt');
  // A login just submitted is the new sign-in (oidc-provider's max_age check does the same).
  const signedInAccount = (ctx: KoaContextWithOIDC): string | undefined => (ctx.oidc.result?.login ? undefined : ctx.oidc.session?.accountId);
  login.checks.add(
    new interactionPolicy.Check('account_removed', 'the account of this sign-in no longer exists', async (ctx) => {
      const accountId = signedInAccount(ctx);
      if (!accountId) return interactionPolicy.Check.NO_NEED_TO_PROMPT;
      return (await accounts.findById(accountId)) === undefined ? interactionPolicy.Check.REQUEST_PROMPT : interactionPolicy.Check.NO_NEED_TO_PROMPT;
    }),
  );
  login.checks.add(
    new interactionPolicy.Check('password_changed', 'the password changed since this sign-in', async (ctx) => {
      const accountId = signedInAccount(ctx);
      if (!accountId) return interactionPolicy.Check.NO_NEED_TO_PROMPT;
      const account = await accounts.findById(accountId);
      const loginTs = (ctx.oidc.session as { loginTs?: unknown } | undefined)?.loginTs;
      return account !== undefined && typeof loginTs === 'number' && loginTs < account.updatedAt
        ? interactionPolicy.Check.REQUEST_PROMPT
        : interactionPolicy.Check.NO_NEED_TO_PROMPT;
    }),
  );
  return policy;
}
