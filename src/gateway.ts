import type { Server } from 'node:http';
import { startAdminServer, type AdminServer } from './admin/server.js';
import { isLoopbackAddress } from './loopback.js';
import { GatewayMetrics } from './admin/metrics.js';
import type { Config } from './config/schema.js';
import { createLogger, createLogThrottle, type Logger } from './log.js';
import { createAuthKinds, type AuthKinds } from './pipeline/authenticate/index.js';
import { createAccessLog } from './server/access-log.js';
import { compileRoutes } from './server/compile-routes.js';
import { UpstreamPools } from './server/forward.js';
import { createRequestHandler, type GatewayState } from './server/handle-request.js';
import { readTlsCredentials, startListeners, type ListenerObserver, type Listeners } from './server/listener.js';
import { Traffic } from './server/traffic.js';
import { RouteMetrics } from './server/route-metrics.js';
import { createRouter } from './server/router.js';
import { createTrustedProxies } from './server/trusted-proxies.js';
import { createSessionRuntime, openSessionStore, type SessionRuntime } from './sessions/runtime.js';
import type { RefreshOutcome } from './sessions/refresh.js';
import type { SessionStore } from './sessions/store.js';
import { settleWithin } from './timers.js';

/** A running gateway. */
export interface Gateway {
  /** Base URL of the gateway listener, e.g. `http://127.0.0.1:54321` (https with TLS). */
  readonly url: string;
  /** Base URL of the admin listener, when enabled. */
  readonly adminUrl: string | undefined;
  /** Base URL of the plain-HTTP redirect listener, when `listen.tls.redirectPort` is set. */
  readonly redirectUrl: string | undefined;
  /** Resolves once every key source has loaded once (never rejects). */
  readonly ready: Promise<void>;
  /** Every key source loaded, and not shutting down (`/readyz`). */
  isReady(): boolean;
  /**
   * Swaps in a new configuration's routes and verifiers atomically. Everything is
   * built first, key files imported and every new JWKS fetched once included (a
   * fetch takes at most its `jwks.timeoutMs`); on any error, a key source that
   * brought no keys included, the old configuration keeps serving and this
   * throws, naming the issuer. An issuer whose key settings are unchanged
   * keeps its keys (a JWKS is not fetched again; while it is down, the last good
   * keys serve on), and when every issuer is unchanged the token caches carry over.
   * One whose `jwks` limits alone changed opens a source with the new limits that
   * serves the old one's last good keys until its own fetch brings keys.
   * Requests already running finish with the configuration they started with;
   * its key sources and the upstream pools only it uses are closed after them.
   * Listener and admin settings, and the limits bound into sockets and pools
   * (header size, connections, request time, upstream pool size and connect
   * timeout), need a restart; changing them is refused. The TLS certificate
   * and key files are read again (a renewal replaces them in place) and serve
   * new connections; a pair that does not load refuses the reload.
   * Each call is counted in `gatehouse_config_reloads_total` (`ok` or `rejected`).
   */
  reload(config: Config): Promise<void>;
  /**
   * Reports unready (`/readyz` 503) at once; after `shutdown.readinessDelayMs` (still accepting and
   * serving meanwhile) stops accepting, lets in-flight requests finish up to
   * `shutdown.drainTimeoutMs`, then cuts the rest. Called again, it returns the same promise and
   * ends a readiness delay still running: the drain begins at once.
   */
  close(): Promise<void>;
}

export interface GatewayOptions {
  logger?: Logger;
  /** Metrics to record into (default: a fresh set, serving Node's process metrics, which are collected once per process). */
  metrics?: GatewayMetrics;
  /** Clock in ms for token expiry and caches. */
  now?: () => number;
  /** Directory relative paths in the config (keys, certificates) resolve against. */
  baseDir?: string;
  /** Session store to use instead of the one `sessions.store` configures (embedding, benchmarks). */
  sessionStore?: SessionStore;
}

interface Generation {
  readonly state: GatewayState;
  readonly auth: AuthKinds;
  /** The session runtime its routes and `/auth/*` endpoints were built with. */
  readonly sessions: SessionRuntime | undefined;
  /** The session store that runtime uses, when the gateway opened it (not one passed in `sessionStore`). */
  readonly store: OwnedStore | undefined;
}

/** A session store the gateway opened, with the `sessions.store` settings it was opened with. */
interface OwnedStore {
  readonly settings: string;
  readonly store: SessionStore;
}

/**
 * Starts the gateway: compiles routes and verifiers, binds the listener(s) and,
 * when enabled, the admin listener.
 *
 * @example
 * ```ts
 * const gw = await startGateway(loadedConfig);
 * await gw.ready;          // keys loaded
 * // … later, on SIGHUP: await gw.reload(await loadConfigFile(path));
 * await gw.close();        // on SIGTERM
 * ```
 */
export async function startGateway(config: Config, opts: GatewayOptions = {}): Promise<Gateway> {
  const logger = opts.logger ?? createLogger(config.logging.level);
  const metrics = opts.metrics ?? new GatewayMetrics();
  const pools = new UpstreamPools({
    connections: config.limits.upstreamConnections,
    connectTimeoutMs: config.limits.upstreamConnectTimeoutMs,
    logger,
  });
  const unroutedMetrics = new RouteMetrics(metrics, '(none)');
  const accessLog = createAccessLog(logger);
  const connectionLimitWarning = createLogThrottle(CONNECTION_LIMIT_WARN_INTERVAL_MS);
  // What the listeners answer themselves (unparsable requests, a refused Expect, CONNECT, the HTTPS
  // redirects) is a request no route took, counted and logged like the handler's own refusals.
  const listenerObserver: ListenerObserver = {
    answered({ status, method, path }) {
      unroutedMetrics.answeredByListener(status);
      accessLog({ method, path, route: undefined, status, auth: '' });
    },
    dropped() {
      metrics.connectionsRejected.inc();
      if (connectionLimitWarning('dropped')) {
        logger.warn({ maxConnections: config.limits.maxConnections }, 'connection limit reached: new connections are closed at accept');
      }
    },
  };

  // A changed `sessions` section builds a new runtime (keys, provider, mode), but the store
  // outlives every reload that keeps `sessions.store`: a memory store holds each login, logout
  // marker and "end other sessions" cutoff, and a new one would forget them all (a key
  // rotation would log every stateful user out and make logged-out stateless cookies valid).
  const sessionMetrics = {
    onRefresh: (outcome: RefreshOutcome) => metrics.sessionRefreshes.inc({ outcome }),
    onLogin: (result: 'ok' | 'failed') => metrics.sessionLogins.inc({ result }),
  };
  const newSessions = (cfg: Config, previous?: OwnedStore): { sessions: SessionRuntime | undefined; store: OwnedStore | undefined } => {
    if (!cfg.sessions) return { sessions: undefined, store: undefined };
    const settings = JSON.stringify(cfg.sessions.store);
    const opened = opts.sessionStore === undefined && previous?.settings !== settings;
    const store = opts.sessionStore ? undefined : opened ? { settings, store: openSessionStore(cfg.sessions.store, opts.now, logger) } : previous;
    try {
      const sessions = createSessionRuntime(cfg.sessions, { now: opts.now, store: opts.sessionStore ?? store?.store, metrics: sessionMetrics });
      return { sessions, store };
    } catch (err) {
      // A store opened for this configuration alone goes with it (Redis connections, a sweeper timer).
      if (opened) store?.store.close().catch((closeErr: unknown) => logger.warn({ err: closeErr }, 'closing a session store failed'));
      throw err;
    }
  };

  const build = (cfg: Config, session: ReturnType<typeof newSessions>, previous?: Generation): Generation => {
    const { sessions, store } = session;
    const auth = createAuthKinds({ config: cfg, metrics, logger, now: opts.now, baseDir: opts.baseDir, sessions, previous: previous?.auth });
    try {
      const routes = compileRoutes(cfg, auth, pools, metrics);
      const state: GatewayState = {
        router: createRouter(routes),
        realm: cfg.security.realm,
        maxUrlLength: cfg.limits.maxUrlLength,
        trusted: createTrustedProxies(cfg.trustedProxies),
        unroutedMetrics,
        ...(sessions ? { sessionEndpoints: sessions.endpoints } : {}),
        traffic: new Traffic(),
      };
      return { state, auth, sessions, store };
    } catch (err) {
      void auth.close();
      throw err;
    }
  };

  const firstSessions = newSessions(config);
  let current: Generation;
  try {
    // A key file that does not import throws here, naming the file: a broken config refuses to
    // start rather than serve 503 on its routes until someone reads the logs. A JWKS is not waited
    // for at start (a reload waits for the ones it opens): /readyz says 503 until it loads.
    current = build(config, firstSessions);
  } catch (err) {
    await firstSessions.store?.store.close();
    throw err;
  }
  let active = config;
  /** Replaced generations whose requests are still running. */
  const retired = new Set<Generation>();
  /**
   * A reload's generation while it waits for its key sources and store: its routes hold their
   * pools already, so a retirement that ends meanwhile must not close them.
   */
  let pending: Generation | undefined;
  /** Every generation that may still have (or, pending, soon take) requests: what shutdown drains, whose pools and stores stay open. */
  const live = (): Generation[] => (pending === undefined ? [current, ...retired] : [current, pending, ...retired]);
  const running = (): number => live().reduce((n, g) => n + g.state.traffic.running, 0);

  let listeners: Listeners | undefined;
  let admin: AdminServer | undefined;
  let closing: Promise<void> | undefined;
  /** Ends `shutdown.readinessDelayMs` early (a second close()); set while that delay runs. */
  let endReadinessDelay: (() => void) | undefined;
  // Not ready once shutdown begins: a load balancer must stop sending before the port refuses
  // (shutdown.readinessDelayMs is how long the port keeps accepting meanwhile).
  const isReady = (): boolean => closing === undefined && current.auth.isReady();
  try {
    listeners = await startListeners(
      config.listen,
      config.limits,
      createRequestHandler({
        proto: config.listen.tls ? 'https' : 'http',
        hsts: config.listen.tls ? `max-age=${Math.floor(config.listen.tls.hstsMaxAge)}` : undefined,
        logger,
        accessLog,
        state: () => current.state,
        get draining() {
          return closing !== undefined;
        },
      }),
      logger,
      opts.baseDir,
      listenerObserver,
    );
    if (config.admin.enabled) {
      if (!isLoopbackAddress(config.admin.host)) {
        logger.warn({ host: config.admin.host }, 'admin listener on a non-loopback address: /metrics and /readyz answer anyone who can reach it');
      }
      admin = await startAdminServer(
        { host: config.admin.host, port: config.admin.port },
        { registry: metrics.registry, isReady, logger },
      );
    }
  } catch (err) {
    await current.auth.close();
    await current.store?.store.close();
    await pools.destroy();
    // Listeners that did bind must not outlive a failed start.
    listeners?.server.close();
    listeners?.redirect?.close();
    throw err;
  }
  const bound = listeners;
  logger.info({ url: bound.url, redirectUrl: bound.redirectUrl, adminUrl: admin?.url }, 'gateway listening');

  /**
   * Closes the pools no route uses, of the current generation or of one still
   * finishing its requests; requests running on them finish first, without
   * holding up the caller.
   */
  const releasePools = (): void => {
    const origins = new Set<string>();
    for (const g of live()) for (const r of g.state.router.routes) origins.add(r.origin);
    pools.retainOnly(origins).catch((err: unknown) => logger.warn({ err }, 'closing an unused upstream pool failed'));
  };

  /** Closes `store` unless a generation that may still run requests uses it. */
  const closeStoreIfUnused = async (store: OwnedStore | undefined): Promise<void> => {
    if (store !== undefined && !live().some((g) => g.store === store)) await store.store.close();
  };

  /**
   * A replaced generation keeps its key sources, pools and session store until
   * its last request has ended: one still verifying its token (a JWKS fetch, an
   * introspection) or refreshing its session when the reload lands finishes
   * afterwards, through the pool and store it started with.
   */
  const retire = (g: Generation): void => {
    retired.add(g);
    void g.state.traffic
      .idle()
      .then(async () => {
        if (!retired.delete(g)) return; // close() took it
        releasePools();
        await g.auth.close();
        await closeStoreIfUnused(g.store);
      })
      .catch((err: unknown) => logger.warn({ err }, 'closing a replaced configuration failed'));
  };

  /** Swaps in `next` (see Gateway.reload); runs one at a time, as it waits for key files between building and swapping. */
  const swapIn = async (next: Config): Promise<void> => {
    // Queued behind another reload, or called after close(): build nothing (a store, JWKS fetches) only to close it.
    if (closing !== undefined) throw new Error('the gateway is shutting down');
    assertSameListeners(active, next);
    // Read again on every reload, as renewals replace the files in place; a pair that does not load refuses it.
    const tls = next.listen.tls ? readTlsCredentials(next.listen.tls, opts.baseDir) : undefined;
    const sessionsChanged = JSON.stringify(next.sessions) !== JSON.stringify(active.sessions);
    const session = sessionsChanged ? newSessions(next, current.store) : { sessions: current.sessions, store: current.store };
    let generation: Generation | undefined;
    try {
      // Throws (a key file that does not import, …): the old generation keeps serving.
      generation = build(next, session, current);
      pending = generation;
      // A new JWKS that is down would leave its issuer at 503, and /readyz with it while the other
      // issuers serve: every key source this configuration opened must bring keys (within its fetch
      // timeout) before it serves. Sources it took over serve on as they did, last good keys and all.
      await generation.auth.newKeysLoaded;
      // Likewise a session store it opened (a new Redis URL): one that never answers would turn
      // /readyz to 503 on every instance given the file, public routes and all.
      if (session.store !== undefined && session.store !== current.store) await storeAnswers(next, session.sessions);
      // Shutdown began while this waited: it closed what was live, and this must not go live after it.
      if (closing !== undefined) throw new Error('the gateway is shutting down');
    } catch (err) {
      pending = undefined;
      await generation?.auth.close();
      // A store opened for this configuration only (its settings changed) goes with it.
      await closeStoreIfUnused(session.store);
      // Drop any pool the failed build opened.
      releasePools();
      throw err;
    }
    const previous = current;
    current = generation;
    pending = undefined;
    active = next;
    if (tls) bound.useTlsCredentials(tls);
    bound.useMaxUrlLength(next.limits.maxUrlLength);
    logger.level = next.logging.level;
    logger.info({ routes: next.routes.length }, 'configuration reloaded');
    retire(previous);
    releasePools();
  };
  let reloading: Promise<void> = Promise.resolve();

  return {
    url: bound.url,
    adminUrl: admin?.url,
    redirectUrl: bound.redirectUrl,
    get ready() {
      return current.auth.ready;
    },
    isReady,

    reload(next) {
      const run = reloading.then(() => swapIn(next));
      reloading = run.catch(() => {});
      // Counted before the caller sees the outcome (handlers run in the order they were attached).
      run.then(
        () => metrics.configReloads.inc({ result: 'ok' }),
        () => metrics.configReloads.inc({ result: 'rejected' }),
      );
      return run;
    },

    close() {
      if (closing !== undefined) {
        endReadinessDelay?.();
        return closing;
      }
      closing = (async () => {
        // Still accepting and serving while load balancers notice /readyz (they poll it) or the
        // platform removes the endpoint: a port that refused at once would fail the requests they
        // still send meanwhile. Answers say Connection: close from now on (draining), so keep-alive
        // connections end with an answer the client has read, and none is left idle for the close
        // below to cut as a client reuses it.
        const delayMs = active.shutdown.readinessDelayMs;
        if (delayMs > 0) {
          logger.info({ readinessDelayMs: delayMs }, 'shutting down: /readyz answers 503; still accepting until the readiness delay ends');
          await settleWithin(new Promise<void>((resolve) => (endReadinessDelay = resolve)), delayMs);
          endReadinessDelay = undefined;
        }
        const servers = [bound.server, bound.redirect].filter((s): s is Server => s !== undefined);
        const stopped = Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
        for (const s of servers) s.closeIdleConnections();
        if (running() > 0) {
          // Answers written from now on say Connection: close (see HandlerEnv.draining), so keep-alive
          // clients leave. Not swept with closeIdleConnections meanwhile: Node counts an answer as done
          // once it is ended, before its tail is flushed, and would cut a download still going out. A
          // connection whose answer said keep-alive before the drain may carry one more request, which
          // is answered with Connection: close.
          await settleWithin(Promise.all(live().map((g) => g.state.traffic.idle())), active.shutdown.drainTimeoutMs);
          if (running() > 0) logger.warn({ inFlight: running() }, 'drain timeout: closing remaining connections');
        }
        bound.closeAllConnections();
        await stopped;
        await pools.destroy();
        await admin?.close();
        const draining = [...retired];
        retired.clear();
        for (const g of draining) await g.auth.close();
        await current.auth.close();
        for (const store of new Set([current.store, ...draining.map((g) => g.store)])) await store?.store.close();
        logger.info('gateway stopped');
      })();
      return closing;
    },
  };
}

/** Waits for a newly opened session store's first answer, up to its command timeout; refuses the reload without one. */
async function storeAnswers(cfg: Config, sessions: SessionRuntime | undefined): Promise<void> {
  const store = cfg.sessions?.store;
  if (sessions === undefined || store?.kind !== 'redis') return;
  let answered = false;
  await settleWithin(sessions.ready.then(() => (answered = true)), store.commandTimeoutMs);
  if (!answered) throw new Error(`sessions.store: Redis did not answer within ${store.commandTimeoutMs} ms; the reload is refused, the running configuration keeps serving`);
}

/** Refuses a reload that changes any of `sections`, which only a restart applies. */
export function assertSectionsUnchanged(running: Config, next: Config, sections: readonly (keyof Config)[]): void {
  for (const key of sections) {
    if (JSON.stringify(running[key]) !== JSON.stringify(next[key])) throw new Error(`reload cannot change ${key}; restart the gateway instead`);
  }
}

/** Settings that belong to bound sockets and pools; a reload cannot change them. */
function assertSameListeners(a: Config, b: Config): void {
  assertSectionsUnchanged(a, b, ['listen', 'admin']);
  for (const key of FIXED_LIMITS) {
    if (a.limits[key] !== b.limits[key]) throw new Error(`reload cannot change limits.${key}; restart the gateway instead`);
  }
}

/** A flood at the connection limit logs one warning per this interval (each dropped connection is counted). */
const CONNECTION_LIMIT_WARN_INTERVAL_MS = 10_000;

const FIXED_LIMITS = ['maxHeaderBytes', 'maxConnections', 'requestTimeoutMs', 'upstreamConnections', 'upstreamConnectTimeoutMs'] as const;
