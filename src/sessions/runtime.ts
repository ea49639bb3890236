import type { Logger } from '../log.js';
import type { CookieAttributes } from './cookies.js';
import type { SessionsConfig } from './config-schema.js';
import { Keyring } from './crypto.js';
import type { CsrfOptions } from './csrf.js';
import type { SessionManager, SessionManagerDeps } from './manager.js';
import { MemorySessionStore } from './memory/memory-store.js';
import { OidcClient } from './oidc-client.js';
import { CachedSessionStore } from './redis/cached-store.js';
import { RedisSessionStore } from './redis/redis-store.js';
import { RefreshCoordinator, type RefreshOutcome } from './refresh.js';
import { returnToFor } from './return-to.js';
import { SessionEndpoints } from './routes.js';
import { StatefulSessions } from './stateful.js';
import { StatelessSessions } from './stateless.js';
import { systemClock, type Clock, type SessionStore } from './store.js';

/** Everything the gateway needs for browser sessions, built once from `sessions:`. */
export interface SessionRuntime {
  readonly config: SessionsConfig;
  readonly manager: SessionManager;
  readonly endpoints: SessionEndpoints;
  readonly client: OidcClient;
  readonly csrf: CsrfOptions;
  /** Where a page navigation without a session is sent: `/auth/login?return_to=` the request, never a value login refuses. */
  loginLocation(path: string, query: string): string;
  /** Names of gateway-owned cookies that never go upstream. */
  isGatewayCookie(name: string): boolean;
  /** Resolves once the store answers (Redis connected); never rejects. */
  readonly ready: Promise<void>;
  /** False until the store has answered once. */
  isReady(): boolean;
  close(): Promise<void>;
}

export interface SessionRuntimeOptions {
  readonly now?: Clock;
  /** Use this store instead of the configured one (tests). */
  readonly store?: SessionStore;
  /** Cookie attribute overrides (tests of the `Secure` rule only). */
  readonly cookieAttributes?: Omit<CookieAttributes, 'maxAgeSeconds'>;
  /** Counts refresh outcomes and logins (the gateway's metrics). */
  readonly metrics?: SessionMetrics;
}

/** The counters sessions feed. */
export interface SessionMetrics {
  onRefresh(outcome: RefreshOutcome): void;
  onLogin(result: 'ok' | 'failed'): void;
}

/**
 * Opens the store `sessions.store` describes. The gateway opens it and passes it
 * in (see `SessionRuntimeOptions.store`), so that one store outlives reloads that
 * keep its settings.
 */
export function openSessionStore(cfg: SessionsConfig['store'], now: Clock = systemClock, logger?: Pick<Logger, 'warn' | 'info'>): SessionStore {
  if (cfg.kind === 'memory') return new MemorySessionStore({ maxEntries: cfg.maxEntries, clock: now });
  const redis = RedisSessionStore.open(cfg.url, { prefix: cfg.prefix, commandTimeoutMs: cfg.commandTimeoutMs, clock: now, logger });
  if (cfg.localCache.maxEntries === 0) return redis;
  return new CachedSessionStore(redis, { maxEntries: cfg.localCache.maxEntries, ttlMs: cfg.localCache.ttlMs, clock: now });
}

function isRedisBacked(store: SessionStore): store is RedisSessionStore | CachedSessionStore {
  return store instanceof RedisSessionStore || store instanceof CachedSessionStore;
}

/**
 * Builds the session machinery: store, keyring, OIDC client (discovery on first
 * use), refresh coordinator, session manager for the configured mode, and the
 * `/auth/*` endpoints.
 */
export function createSessionRuntime(cfg: SessionsConfig, opts: SessionRuntimeOptions = {}): SessionRuntime {
  const now = opts.now ?? systemClock;
  const publicOrigin = new URL(cfg.publicUrl).origin;
  const store = opts.store ?? openSessionStore(cfg.store, now);
  const keyring = new Keyring(cfg.keys);
  const client = new OidcClient({
    issuer: cfg.provider.issuer,
    clientId: cfg.provider.clientId,
    ...(cfg.provider.clientSecret ? { clientSecret: cfg.provider.clientSecret } : {}),
    redirectUri: `${publicOrigin}/auth/callback`,
    scope: cfg.provider.scopes,
    ...(cfg.provider.resource ? { resource: cfg.provider.resource } : {}),
    timeoutMs: cfg.provider.timeoutMs,
    now,
  });
  const deps: SessionManagerDeps = {
    store,
    keyring,
    timeouts: { idleSeconds: cfg.idleTimeout, absoluteSeconds: cfg.absoluteTimeout },
    grant: client.refresh,
    coordinator: new RefreshCoordinator({
      store,
      lockTtlMs: cfg.refreshLock.ttlMs,
      waitMs: cfg.refreshLock.waitMs,
      now,
      ...(opts.metrics ? { onOutcome: (o: RefreshOutcome) => opts.metrics?.onRefresh(o) } : {}),
    }),
    now,
    skewSeconds: cfg.refreshSkew,
    touchIntervalSeconds: cfg.touchInterval,
    ...(opts.cookieAttributes ? { cookieAttributes: opts.cookieAttributes } : {}),
  };
  const manager = cfg.mode === 'stateful' ? new StatefulSessions(deps) : new StatelessSessions(deps);
  const csrf: CsrfOptions = {
    publicOrigin,
    allowedOrigins: cfg.csrf.allowedOrigins.map((o) => new URL(o).origin),
    doubleSubmit: cfg.csrf.doubleSubmit,
  };
  const endpoints = new SessionEndpoints({
    manager,
    client,
    keyring,
    publicOrigin,
    returnToOrigins: cfg.returnToOrigins.map((o) => new URL(o).origin),
    csrf,
    now,
    absoluteSeconds: cfg.absoluteTimeout,
    endSession: cfg.logout.endSession,
    ...(opts.metrics ? { onLogin: (r: 'ok' | 'failed') => opts.metrics?.onLogin(r) } : {}),
    ...(cfg.logout.postLogoutRedirectUri ? { postLogoutRedirectUri: cfg.logout.postLogoutRedirectUri } : {}),
    ...(opts.cookieAttributes ? { cookieAttributes: opts.cookieAttributes } : {}),
  });
  return {
    config: cfg,
    manager,
    endpoints,
    client,
    csrf,
    loginLocation: (path, query) => `${endpoints.basePath}/login?return_to=${encodeURIComponent(returnToFor(path, query, publicOrigin))}`,
    isGatewayCookie: (name) => endpoints.isGatewayCookie(name),
    ready: isRedisBacked(store) ? store.ready : Promise.resolve(),
    isReady: () => (isRedisBacked(store) ? store.isReady() : true),
    // An injected store belongs to whoever passed it in.
    close: () => (opts.store ? Promise.resolve() : manager.close()),
  };
}
