import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { createServer as createHttpServer, type Server } from 'node:http';
import { fileURLToPath } from 'node:url';
import { request as undiciRequest } from 'undici';
import { ConfigSchema, type ConfigInput } from '../../src/config/schema.js';
import { GatewayMetrics } from '../../src/admin/metrics.js';
import { hashPassword } from '../../src/auth-service/accounts/password.js';
import { createLogger } from '../../src/log.js';
import { startGateway, type Gateway } from '../../src/gateway.js';
import type { SessionsConfigInput } from '../../src/sessions/config-schema.js';
import type { SessionStore } from '../../src/sessions/store.js';
import { Keyring, openRecord, storeKeyOf } from '../../src/sessions/crypto.js';
import { CookieSealer } from '../../src/sessions/sealed-cookie.js';
import { parseSessionData, type SessionData } from '../../src/sessions/session.js';
import { CookieJar, loginWithForm, startTestAuthService, TEST_API, type TestAuthService } from './auth-service.js';
import { captureLog } from './log-capture.js';
import { freePort } from './ports.js';
import type { ProviderRelay } from './provider-relay.js';

export { offsetClock } from './clock.js';

// Full stack for session tests: the real authorization service behind an HTTP
// relay (its issuer), a gateway with `sessions:` configured, and an upstream
// that echoes what it received.

export { CookieJar };

/** What the echo upstream saw. */
export interface Echo {
  readonly path: string;
  readonly method: string;
  readonly authorization: string | undefined;
  readonly cookie: string | undefined;
}

/**
 * An upstream that answers every request with what it received (JSON), and a
 * small HTML page on `/app`; a path holding `/cacheable` is answered as
 * cacheable by shared caches.
 */
export async function startEchoUpstream(): Promise<{ url: string; server: Server; close(): Promise<void> }> {
  const server = createHttpServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const echo: Echo = { path: req.url ?? '', method: req.method ?? '', authorization: req.headers.authorization, cookie: req.headers.cookie };
      if ((req.url ?? '').startsWith('/api/whoami')) {
        // For pages: says whether a bearer token arrived, never the token itself.
        const body = JSON.stringify({ bearer: /^Bearer \S+$/.test(echo.authorization ?? ''), cookieNames: (echo.cookie ?? '').split(';').map((c) => c.split('=')[0]?.trim()).filter(Boolean) });
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(body);
        return;
      }
      if ((req.url ?? '').startsWith('/app')) {
        res.writeHead(200, { 'content-type': 'text/html' });
        res.end(`<!doctype html><title>app</title><pre id="echo">${JSON.stringify({ bearer: /^Bearer \S+$/.test(echo.authorization ?? '') })}</pre>`);
        return;
      }
      const body = JSON.stringify(echo);
      // `/…/cacheable`: an answer a shared cache (CDN) would store.
      const caching = (req.url ?? '').includes('/cacheable') ? { 'cache-control': 'public, max-age=600, s-maxage=600', 'cdn-cache-control': 'max-age=600', 'surrogate-control': 'max-age=600' } : {};
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...caching });
      res.end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

export interface SessionStackOptions {
  readonly mode: 'stateful' | 'stateless';
  /** Gateways beyond the first run as separate processes (see `gateway-child.ts`); needs a shared store. */
  readonly childProcesses?: boolean;
  readonly store?: { kind: 'memory' } | { kind: 'redis'; url: string; prefix: string };
  readonly now?: () => number;
  /** Extra gateway instances sharing the configuration (and store), for cross-instance tests. */
  readonly instances?: number;
  readonly sessions?: Partial<SessionsConfigInput>;
  /** Store for each in-process gateway, by index (the caller closes them), instead of the configured one. */
  readonly sessionStores?: readonly SessionStore[];
  /** Session keys (default: one random key `k1`). */
  readonly keys?: readonly { id: string; secret: string }[];
}

export interface SessionStack {
  readonly auth: TestAuthService;
  /**
   * The relay in front of the provider (its URL is the issuer): every call of
   * the gateways and of the test's browser crosses it, so a test can count,
   * delay, hold, fail or rewrite them on a real socket.
   */
  readonly relay: ProviderRelay;
  readonly upstream: { url: string };
  /** Gateway instances; `[0]` is the one registered at the provider (its URL is the publicUrl). */
  readonly gateways: Gateway[];
  readonly url: string;
  readonly clientId: string;
  readonly clientSecret: string;
  /** The session keys the gateways were started with. */
  readonly keys: readonly { id: string; secret: string }[];
  /** Refresh-token grants the provider handled (success and failure). */
  refreshGrants(): number;
  /** Refresh-token grants the provider refused (invalid_grant: revoked, reused, expired). */
  refusedRefreshGrants(): number;
  /** Reloads gateway `index` (default 0) with its configuration, `sessions` patched. */
  reloadSessions(patch: Partial<SessionsConfigInput>, index?: number): Promise<void>;
  /** Each gateway's metrics, in `gateways` order. */
  readonly metrics: GatewayMetrics[];
  /** What the in-process gateways logged at `warn` and above, one object per line. */
  logs(): Record<string, unknown>[];
  /** URLs of every instance: in-process gateways first, then child processes. */
  readonly urls: string[];
  /** Moves the clock of the child-process gateways (the in-process ones share the test's clock). */
  advanceChildren(ms: number): Promise<void>;
  /**
   * Logs a user in through `/auth/login` (the test user unless `as.user`; the
   * callback carries `as.userAgent`, default `session-e2e`) and returns the jar
   * holding the session cookies. `as.provider`: the browser's cookies at the
   * provider, to sign in again through the same provider session (one grant);
   * by default each login starts a provider session of its own.
   */
  login(returnTo?: string, jar?: CookieJar, as?: { user?: { username: string; password: string }; userAgent?: string; provider?: CookieJar }): Promise<{ jar: CookieJar; location: string }>;
  /** Adds an account to the provider; its credentials, for `login`. */
  addUser(username: string): Promise<{ username: string; password: string }>;
  close(): Promise<void>;
}

/** Starts the provider, the echo upstream and the gateway(s). Close in `t.after`. */
export async function startSessionStack(o: SessionStackOptions): Promise<SessionStack> {
  const ports = [await freePort()];
  for (let i = 1; i < (o.instances ?? 1); i++) ports.push(await freePort());
  const publicUrl = `http://127.0.0.1:${ports[0]}`;
  const clientId = 'gateway-web';
  const clientSecret = randomBytes(24).toString('base64url');
  const auth = await startTestAuthService({
    relay: true,
    ...(o.now ? { now: o.now } : {}),
    overrides: {
      clients: [
        {
          clientId,
          clientSecret,
          redirectUris: ports.map((p) => `http://127.0.0.1:${p}/auth/callback`),
          postLogoutRedirectUris: [`${publicUrl}/`],
          grantTypes: ['authorization_code', 'refresh_token'],
          scopes: ['openid', 'offline_access', 'profile', 'api:read'],
          resources: [TEST_API],
          firstParty: true,
        },
      ],
    },
  });
  let grants = 0;
  let refused = 0;
  const countGrants = (ctx: { oidc?: { params?: { grant_type?: unknown } } }) => {
    if (ctx.oidc?.params?.grant_type === 'refresh_token') grants++;
  };
  auth.service.provider.on('grant.success', countGrants);
  auth.service.provider.on('grant.error', (ctx: { oidc?: { params?: { grant_type?: unknown } } }, err: { error?: string }) => {
    countGrants(ctx);
    if (ctx.oidc?.params?.grant_type === 'refresh_token' && err.error === 'invalid_grant') refused++;
  });
  const upstream = await startEchoUpstream();
  const keys = o.keys ? [...o.keys] : [{ id: 'k1', secret: randomBytes(32).toString('base64url') }];
  // Warnings and errors only: the access log would bury them.
  const captured = captureLog();
  const logger = createLogger('warn', captured.stream);
  const inputs: ConfigInput[] = [];
  const gateways: Gateway[] = [];
  const metrics: GatewayMetrics[] = [];
  const children: ChildProcess[] = [];
  const childUrls: string[] = [];
  try {
    for (const [index, port] of ports.entries()) {
      const input: ConfigInput = {
        listen: { host: '127.0.0.1', port },
        admin: { enabled: false },
        logging: { level: 'silent' },
        routes: [
          { path: '/app', upstream: upstream.url, auth: 'session' },
          { path: '/api', upstream: upstream.url, auth: 'session', login: 'status' },
          { path: '/mixed', upstream: upstream.url, auth: ['session', 'none'] },
          { path: '/public', upstream: upstream.url, auth: 'none' },
          { path: '/both', upstream: upstream.url, auth: ['jwt', 'session'], login: 'status', scopes: ['api:read'] },
        ],
        security: { jwt: { issuer: auth.issuer, audience: TEST_API, jwksUri: `${auth.issuer}/jwks`, algorithms: ['ES256'] } },
        sessions: {
          mode: o.mode,
          store: o.store ?? { kind: 'memory' },
          publicUrl,
          provider: { issuer: auth.issuer, clientId, clientSecret, scopes: 'openid offline_access profile api:read', resource: TEST_API, timeoutMs: 2000 },
          keys,
          logout: { endSession: true, postLogoutRedirectUri: `${publicUrl}/` },
          ...o.sessions,
        },
      };
      inputs.push(input);
      if (index > 0 && o.childProcesses) {
        const { child, url } = await spawnGateway(input, o.now ? o.now() - Date.now() : 0);
        children.push(child);
        childUrls.push(url);
        continue;
      }
      const m = new GatewayMetrics({ collectDefault: false });
      metrics.push(m);
      const sessionStore = o.sessionStores?.[index];
      const gateway = await startGateway(ConfigSchema.parse(input), { metrics: m, logger, ...(o.now ? { now: o.now } : {}), ...(sessionStore ? { sessionStore } : {}) });
      gateways.push(gateway);
      await gateway.ready; // keys fetched, session store connected
    }
  } catch (err) {
    for (const g of gateways) await g.close();
    for (const c of children) c.kill();
    await upstream.close();
    await auth.close();
    throw err;
  }
  const url = (gateways[0] as Gateway).url;
  return {
    auth,
    relay: auth.relay as ProviderRelay,
    upstream,
    gateways,
    url,
    clientId,
    clientSecret,
    keys,
    refreshGrants: () => grants,
    refusedRefreshGrants: () => refused,
    async reloadSessions(patch, index = 0) {
      const input = inputs[index] as ConfigInput;
      await (gateways[index] as Gateway).reload(ConfigSchema.parse({ ...input, sessions: { ...input.sessions, ...patch } }));
    },
    metrics,
    logs: () => captured.lines(),
    urls: [...gateways.map((g) => g.url), ...childUrls],
    async advanceChildren(ms) {
      await Promise.all(children.map((c) => ask(c, { advance: ms }, 'advanced')));
    },
    async login(returnTo = '/app/home', jar = new CookieJar(), as = {}) {
      const start = await fetch(`${url}/auth/login?return_to=${encodeURIComponent(returnTo)}`, { redirect: 'manual', headers: { cookie: jar.header() } });
      if (start.status !== 302) throw new Error(`login start: HTTP ${start.status} ${await start.text()}`);
      jar.store(start);
      const user = as.user ?? auth.user;
      const callback = await loginWithForm(start.headers.get('location') as string, { username: user.username, password: user.password, redirectUri: `${url}/auth/callback`, jar: as.provider });
      const done = await fetch(callback, { redirect: 'manual', headers: { cookie: jar.header(), 'user-agent': as.userAgent ?? 'session-e2e' } });
      if (done.status !== 302) throw new Error(`callback: HTTP ${done.status} ${await done.text()}`);
      jar.store(done);
      return { jar, location: done.headers.get('location') as string };
    },
    async addUser(username) {
      const password = `pw-${randomBytes(12).toString('base64url')}`;
      await auth.service.accounts.add(username, await hashPassword(password));
      return { username, password };
    },
    async close() {
      for (const g of gateways) await g.close();
      await Promise.all(children.map((c) => stopChild(c)));
      await upstream.close();
      // A test may have stopped the provider already; still remove its folder.
      await auth.close().catch(() => rm(auth.dir, { recursive: true, force: true }));
    },
  };
}

/** Starts `gateway-child.js` with this config; resolves once it listens. */
async function spawnGateway(config: ConfigInput, clockOffsetMs: number): Promise<{ child: ChildProcess; url: string }> {
  const child = fork(fileURLToPath(new URL('./gateway-child.js', import.meta.url)), [], {
    env: { ...process.env, GH_TEST_GATEWAY_CONFIG: JSON.stringify(config), GH_TEST_CLOCK_OFFSET: String(clockOffsetMs) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const url = (await ask(child, undefined, 'url')) as string;
  return { child, url };
}

/** Sends `message` (if any) and resolves with the first reply carrying `key`; rejects if the child exits first. */
function ask(child: ChildProcess, message: unknown, key: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: Record<string, unknown>) => {
      if (!(key in m)) return;
      child.off('message', onMessage);
      child.off('exit', onExit);
      resolve(m[key]);
    };
    const onExit = (code: number | null) => reject(new Error(`gateway child exited (${code})`));
    child.on('message', onMessage);
    child.once('exit', onExit);
    if (message !== undefined) child.send(message as object);
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.send('stop');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

/** A raw response, read whole. */
export interface RawResponse {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
  /** Set-Cookie values. */
  readonly setCookies: string[];
  /** Parsed body (JSON), or undefined. */
  json<T = Record<string, unknown>>(): T;
}

/**
 * One request with exactly the headers given: unlike fetch, undici's `request`
 * does not impose `Sec-Fetch-Mode: cors`, so browser navigations and
 * cross-site requests can be imitated.
 */
export async function rawRequest(url: string, o: { method?: string; headers?: Record<string, string> } = {}): Promise<RawResponse> {
  const res = await undiciRequest(url, { method: (o.method ?? 'GET') as 'GET', headers: o.headers ?? {} });
  const body = await res.body.text();
  const sc = res.headers['set-cookie'];
  return {
    status: res.statusCode,
    headers: res.headers,
    body,
    setCookies: sc === undefined ? [] : Array.isArray(sc) ? sc : [sc],
    json: <T>() => JSON.parse(body) as T,
  };
}

/** Cookie name → value, from a Cookie header. */
export function cookieMap(header: string): Map<string, string> {
  return new Map(header.split('; ').filter(Boolean).map((p) => [p.slice(0, p.indexOf('=')), p.slice(p.indexOf('=') + 1)]));
}

/**
 * A sealer for stateless session cookies under the stack's keys (as the
 * gateway derives them), allowing up to `maxChunks` cookies: tests seal
 * sessions of chosen sizes and read the ones the gateway set.
 */
export function testSealer(keys: readonly { id: string; secret: string }[], maxChunks = 9): CookieSealer {
  return new CookieSealer({ keyring: new Keyring(keys).derive('sealed-cookie'), maxChunks });
}

/** The session a gateway sealed into these cookies (stateless mode). */
export async function openStatelessSession(keys: readonly { id: string; secret: string }[], cookieHeader: string): Promise<SessionData> {
  return parseSessionData((await testSealer(keys).open(cookieMap(cookieHeader))) ?? {});
}

/** The session a stateful gateway keeps in `store` for the session cookie in `cookieHeader`. */
export async function readStatefulSession(keys: readonly { id: string; secret: string }[], store: SessionStore, cookieHeader: string): Promise<SessionData | undefined> {
  const key = storeKeyOf(cookieMap(cookieHeader).get('__Host-gh_sid') ?? '');
  const entry = await store.get(key, { fresh: true });
  return entry && parseSessionData(openRecord(new Keyring(keys).derive('session-store'), key, entry.data));
}
