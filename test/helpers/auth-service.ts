import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as oidc from 'openid-client';
import { AuthServiceSchema, startAuthService, type AuthService, type AuthServiceConfig, type AuthServiceConfigInput } from '../../src/auth-service/index.js';
import { hashPassword } from '../../src/auth-service/accounts/password.js';
import { CookieJar, loginWithForm } from './auth-login.js';
import { freePort } from './ports.js';
import { startProviderRelay, type ProviderRelay } from './provider-relay.js';
import { REDIS_URL } from './sessions.js';

export { CookieJar, csrfFromPage, loginWithForm, type LoginOptions, type LoginStep } from './auth-login.js';

/** Resource indicators the test service knows. */
export const TEST_API = 'https://api.gatehouse.test';
export const TEST_OPAQUE_API = 'https://opaque.gatehouse.test';
/** Redirect URI registered for the browser-style test clients; nothing listens there, the helper stops at the redirect. */
export const TEST_REDIRECT_URI = 'http://127.0.0.1:9/callback';
/** Post-logout redirect URI registered for the `web` and `oidcOnly` clients. */
export const TEST_POST_LOGOUT_URI = 'http://127.0.0.1:9/signed-out';

/** Pre-registered clients of the test service (secrets are random per run). */
export interface TestClients {
  /** Confidential, client_credentials, scopes `api:read api:write`, resources [TEST_API, TEST_OPAQUE_API] (TEST_API default). */
  readonly service: { clientId: string; clientSecret: string };
  /** Confidential, client_credentials, only TEST_OPAQUE_API: its tokens are opaque. */
  readonly opaqueService: { clientId: string; clientSecret: string };
  /** Confidential, first-party, code + refresh, scopes `openid offline_access profile api:read api:write`, resource TEST_API. */
  readonly web: { clientId: string; clientSecret: string; redirectUri: string };
  /** Confidential, first-party, code + refresh, resource TEST_OPAQUE_API: code-flow tokens are opaque. */
  readonly opaqueWeb: { clientId: string; clientSecret: string; redirectUri: string };
  /** Public (PKCE only), first-party, code + refresh, resource TEST_API. */
  readonly public: { clientId: string; redirectUri: string };
  /** Confidential, NOT first-party (shows the consent page), resource TEST_API. */
  readonly thirdParty: { clientId: string; clientSecret: string; redirectUri: string };
  /** Confidential client the gateway uses to call introspection. */
  readonly gateway: { clientId: string; clientSecret: string };
  /** Confidential, first-party, code + refresh, no resources: its access tokens are for userinfo (opaque). */
  readonly oidcOnly: { clientId: string; clientSecret: string; redirectUri: string };
}

export interface TestAuthService {
  readonly service: AuthService;
  /** The issuer, `http://127.0.0.1:<port>` (also the base URL): the service's own, or the relay's when there is one. */
  readonly issuer: string;
  /** The HTTP relay in front of the service (option `relay`), else undefined. */
  readonly relay: ProviderRelay | undefined;
  readonly config: AuthServiceConfig;
  readonly clients: TestClients;
  /** A user that exists in the account store. */
  readonly user: { username: string; password: string; id: string };
  /** Folder holding the SQLite files and keys; removed by `close()` unless `keepDir`. */
  readonly dir: string;
  /** Stops the service and starts it again on the same port, folder and store (persistence tests). */
  restart(): Promise<TestAuthService>;
  /** Stops the relay and the service, removes the folder and (Redis mode) every key under the prefix. */
  close(): Promise<void>;
}

export interface TestAuthServiceOptions {
  /** `sqlite` (default) or `redis` (the real Redis at 127.0.0.1:6379 under a random prefix). */
  readonly store?: 'sqlite' | 'redis';
  readonly redisUrl?: string;
  /** Injected clock (epoch ms) for expiry tests. */
  readonly now?: () => number;
  /** Deep-merged over the generated `auth:` config before validation (e.g. `{ ttl: { authorizationCode: 5 } }`). */
  readonly overrides?: DeepPartial<AuthServiceConfigInput>;
  /**
   * Puts a {@link ProviderRelay} in front of the service and makes its URL the
   * issuer: every call anyone makes to the provider then crosses the relay.
   */
  readonly relay?: boolean;
}

/** Every key optional, recursively (arrays are replaced whole). */
export type DeepPartial<T> = T extends readonly unknown[] ? T : T extends object ? { [K in keyof T]?: DeepPartial<T[K]> } : T;

const secret = () => randomBytes(24).toString('base64url');

/**
 * Starts a real authorization service on 127.0.0.1 (a free port) with a temp
 * folder, the test clients of {@link TestClients} and one user. Close it in
 * `after()`/`t.after()`.
 *
 * @example
 * const auth = await startTestAuthService();
 * t.after(() => auth.close());
 * const tokens = await obtainTokensWithLogin(auth, auth.clients.web, { scope: 'openid offline_access api:read' });
 */
export async function startTestAuthService(opts: TestAuthServiceOptions = {}): Promise<TestAuthService> {
  const dir = await mkdtemp(join(tmpdir(), 'gh-auth-'));
  const port = await freePort();
  // The relay forwards to the service's own port, which stays the same across restarts.
  const relay = opts.relay ? await startProviderRelay(`http://127.0.0.1:${port}`) : undefined;
  const issuer = relay?.url ?? `http://127.0.0.1:${port}`;
  const prefix = `gh-test:${randomBytes(6).toString('hex')}:`;
  const clients: TestClients = {
    service: { clientId: 'test-service', clientSecret: secret() },
    opaqueService: { clientId: 'test-opaque-service', clientSecret: secret() },
    web: { clientId: 'test-web', clientSecret: secret(), redirectUri: TEST_REDIRECT_URI },
    opaqueWeb: { clientId: 'test-opaque-web', clientSecret: secret(), redirectUri: TEST_REDIRECT_URI },
    public: { clientId: 'test-public', redirectUri: TEST_REDIRECT_URI },
    thirdParty: { clientId: 'test-third-party', clientSecret: secret(), redirectUri: TEST_REDIRECT_URI },
    gateway: { clientId: 'test-gateway', clientSecret: secret() },
    oidcOnly: { clientId: 'test-oidc', clientSecret: secret(), redirectUri: TEST_REDIRECT_URI },
  };
  const code = ['authorization_code', 'refresh_token'] as const;
  const raw: AuthServiceConfigInput = {
    issuer,
    listen: { host: '127.0.0.1', port },
    store: opts.store === 'redis' ? { kind: 'redis', url: opts.redisUrl ?? REDIS_URL, keyPrefix: prefix } : { kind: 'sqlite', path: join(dir, 'oidc.sqlite') },
    usersPath: join(dir, 'users.sqlite'),
    signing: { alg: 'ES256', keysPath: join(dir, 'keys.json'), rotationDelay: 60 },
    cookieKeys: [secret() + secret()],
    resources: [
      { indicator: TEST_API, accessTokenFormat: 'jwt', scopes: ['api:read', 'api:write'] },
      { indicator: TEST_OPAQUE_API, accessTokenFormat: 'opaque', scopes: ['api:read', 'api:write'] },
    ],
    clients: [
      { ...clients.service, grantTypes: ['client_credentials'], scopes: ['api:read', 'api:write'], resources: [TEST_API, TEST_OPAQUE_API] },
      { ...clients.opaqueService, grantTypes: ['client_credentials'], scopes: ['api:read'], resources: [TEST_OPAQUE_API] },
      { clientId: clients.web.clientId, clientSecret: clients.web.clientSecret, redirectUris: [TEST_REDIRECT_URI], postLogoutRedirectUris: [TEST_POST_LOGOUT_URI], grantTypes: [...code], scopes: ['openid', 'offline_access', 'profile', 'api:read', 'api:write'], resources: [TEST_API], firstParty: true },
      { clientId: clients.opaqueWeb.clientId, clientSecret: clients.opaqueWeb.clientSecret, redirectUris: [TEST_REDIRECT_URI], grantTypes: [...code], scopes: ['openid', 'offline_access', 'api:read'], resources: [TEST_OPAQUE_API], firstParty: true },
      { clientId: clients.public.clientId, redirectUris: [TEST_REDIRECT_URI], grantTypes: [...code], scopes: ['openid', 'offline_access', 'api:read'], resources: [TEST_API], firstParty: true },
      { clientId: clients.thirdParty.clientId, clientSecret: clients.thirdParty.clientSecret, redirectUris: [TEST_REDIRECT_URI], grantTypes: [...code], scopes: ['openid', 'api:read'], resources: [TEST_API] },
      { ...clients.gateway, grantTypes: ['client_credentials'], scopes: ['api:read'], resources: [TEST_OPAQUE_API] },
      { clientId: clients.oidcOnly.clientId, clientSecret: clients.oidcOnly.clientSecret, redirectUris: [TEST_REDIRECT_URI], postLogoutRedirectUris: [TEST_POST_LOGOUT_URI], grantTypes: [...code], scopes: ['openid', 'offline_access', 'profile'], firstParty: true },
    ],
  };
  const config = AuthServiceSchema.parse(deepMerge(raw, opts.overrides ?? {}));
  const user = { username: 'alice', password: `pw-${secret()}`, id: '' };

  const start = async (): Promise<TestAuthService> => {
    const service = await startAuthService(config, { now: opts.now });
    if (!user.id) user.id = (await service.accounts.add(user.username, await hashPassword(user.password))).id;
    const self: TestAuthService = {
      service,
      issuer,
      relay,
      config,
      clients,
      user,
      dir,
      async restart() {
        await service.close();
        return start();
      },
      async close() {
        await relay?.close();
        await service.close();
        await rm(dir, { recursive: true, force: true });
        if (config.store.kind === 'redis') await deleteRedisPrefix(config.store.url, config.store.keyPrefix);
      },
    };
    return self;
  };
  try {
    return await start();
  } catch (err) {
    await relay?.close();
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

async function deleteRedisPrefix(url: string, prefix: string): Promise<void> {
  const { Redis } = await import('ioredis');
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
      if (keys.length > 0) await redis.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

function deepMerge<T>(base: T, extra: unknown): T {
  if (!extra || typeof extra !== 'object' || Array.isArray(extra)) return (extra ?? base) as T;
  const out: Record<string, unknown> = { ...(base as Record<string, unknown>) };
  for (const [k, v] of Object.entries(extra)) {
    const b = out[k];
    out[k] = b && typeof b === 'object' && !Array.isArray(b) && v && typeof v === 'object' && !Array.isArray(v) ? deepMerge(b, v) : v;
  }
  return out as T;
}

/** openid-client configuration for one of the test clients (plain http allowed: loopback). */
export async function discoverClient(auth: TestAuthService, client: { clientId: string; clientSecret?: string }): Promise<oidc.Configuration> {
  const clientAuth = client.clientSecret ? oidc.ClientSecretBasic(client.clientSecret) : oidc.None();
  return oidc.discovery(new URL(auth.issuer), client.clientId, client.clientSecret, clientAuth, { execute: [oidc.allowInsecureRequests] });
}

/**
 * A form POST to the service at `base` (an instance's URL) as `client`, with client_secret_basic:
 * the token, introspection and revocation endpoints as a confidential client calls them.
 */
export async function postAsClient(
  base: string,
  path: string,
  client: { clientId: string; clientSecret: string },
  body: Record<string, string>,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(`${client.clientId}:${client.clientSecret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/**
 * Starts an authorization request for `clientId` at the service answering on `base` (one
 * instance's URL; several may share a store) and opens the login page it leads to, as a browser
 * would: the jar holds the interaction cookie, `action` is where the form posts.
 */
export async function openLoginPage(base: string, clientId: string) {
  const jar = new CookieJar();
  const url = `${base}/auth?${new URLSearchParams({
    client_id: clientId,
    response_type: 'code',
    redirect_uri: TEST_REDIRECT_URI,
    scope: 'openid api:read',
    code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()),
    code_challenge_method: 'S256',
  })}`;
  const first = await fetch(url, { redirect: 'manual' });
  jar.store(first);
  await first.text();
  const pageUrl = new URL(first.headers.get('location') as string, base).href;
  const page = await fetch(pageUrl, { headers: { cookie: jar.header() } });
  const html = await page.text();
  return { jar, html, status: page.status, headers: page.headers, action: new URL(`${new URL(pageUrl).pathname}/login`, base).href };
}

/** Posts the login form (or any interaction form) at `action` with the jar's cookies; redirects are not followed. */
export async function submitForm(action: string, jar: CookieJar, fields: Record<string, string>, headers: Record<string, string> = {}) {
  const res = await fetch(action, {
    method: 'POST',
    redirect: 'manual',
    headers: { cookie: jar.header(), 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(fields),
  });
  return { status: res.status, location: res.headers.get('location'), html: await res.text(), headers: res.headers };
}

/**
 * The whole authorization-code + PKCE flow with openid-client: builds the
 * request, logs in through the form as the test user, exchanges the code.
 */
export async function obtainTokensWithLogin(
  auth: TestAuthService,
  client: { clientId: string; clientSecret?: string; redirectUri: string },
  params: { scope: string; resource?: string; jar?: CookieJar; claims?: string } = { scope: 'openid offline_access api:read' },
): Promise<oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers> {
  const config = await discoverClient(auth, client);
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: client.redirectUri,
    scope: params.scope,
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    ...(params.resource ? { resource: params.resource } : {}),
    ...(params.claims ? { claims: params.claims } : {}),
  });
  const callback = await loginWithForm(url, { username: auth.user.username, password: auth.user.password, redirectUri: client.redirectUri, jar: params.jar });
  return oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state });
}
