import type { EventEmitter } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import type Provider from 'oidc-provider';
import type { Logger } from '../log.js';
import { hashPassword } from './accounts/password.js';
import { SqliteAccountStore } from './accounts/sqlite-store.js';
import type { AccountStore } from './accounts/store.js';
import { createRedisModelStore } from './adapters/redis.js';
import { createSqliteModelStore, type ModelStore } from './adapters/sqlite.js';
import { longestAccessTokenTtl, type AuthServiceConfig } from './config-schema.js';
import { handleInteraction, PasswordCheckSlots } from './interactions/routes.js';
import { LoginRateLimiter, type LoginRateLimit } from './interactions/rate-limit.js';
import { RedisLoginRateLimiter } from './interactions/rate-limit-redis.js';
import { createTrustedProxies } from '../server/trusted-proxies.js';
import { fileKeyRepository, redisKeyRepository, signingKeysRedisKey, type KeyRepository } from './keys/repository.js';
import { rotateStoredKeys, type RotationResult } from './keys/rotate.js';
import { eventualAlgorithm, loadOrCreateKeys, type KeyFile } from './keys/store.js';
import { createProvider, keyScheduleFingerprint } from './provider.js';
import { settleWithin, timerDelay } from '../timers.js';

export { AuthServiceSchema, type AuthServiceConfig, type AuthServiceConfigInput } from './config-schema.js';
export { SqliteAccountStore } from './accounts/sqlite-store.js';
export { hashPassword, verifyPassword } from './accounts/password.js';
export { rotateStoredKeys, describeKeys, type RotationResult } from './keys/rotate.js';
export { openKeyRepository, fileKeyRepository, type KeyRepository } from './keys/repository.js';

/** A running authorization service. */
export interface AuthService {
  /** Base URL the listener is bound to, e.g. `http://127.0.0.1:8081` (real port when 0 was asked for). */
  readonly url: string;
  /** The configured issuer identifier. */
  readonly issuer: string;
  /**
   * The current oidc-provider instance. It is replaced when the signing-key
   * schedule changes (a rotation activates or retires a key): subscribe to its
   * events with {@link AuthService.on}, which follows the replacement.
   */
  readonly provider: Provider;
  /** Subscribes to an oidc-provider event (`grant.success`, `grant.revoked`, …) on this and every later instance. */
  on(event: string, listener: (...args: unknown[]) => void): void;
  /** The account store (for tests and tooling; the CLI opens its own). */
  readonly accounts: AccountStore;
  /** Rotates the signing keys now: publishes a new key that signs after `signing.rotationDelay`. */
  rotateKeys(): Promise<RotationResult>;
  /** Re-reads the stored keys now (they are also re-read every `signing.reloadInterval`). */
  reloadKeys(): Promise<void>;
  /**
   * Stops accepting connections and closes the idle ones at once; requests in
   * flight finish, up to `drainTimeoutMs` (default 0: none waited for), each
   * answered with `Connection: close`; then the rest are cut and the stores closed.
   */
  close(opts?: { readonly drainTimeoutMs?: number }): Promise<void>;
}

export interface AuthServiceOptions {
  readonly logger?: Logger;
  /** Clock in epoch milliseconds, for expiry tests. Stored items and key schedules follow it. */
  readonly now?: () => number;
  /** Relative file paths in `cfg` are resolved against this folder (the config file's). Default: the working directory. */
  readonly baseDir?: string;
}

/** Rethrows a start-up failure prefixed with the config key it came from. */
function underKey(key: string): (err: unknown) => never {
  return (err) => {
    throw new Error(`${key}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  };
}

/** The config with its file paths made absolute against `baseDir`. */
export function resolveAuthPaths(cfg: AuthServiceConfig, baseDir = process.cwd()): AuthServiceConfig {
  return {
    ...cfg,
    usersPath: resolve(baseDir, cfg.usersPath),
    store: cfg.store.kind === 'sqlite' ? { ...cfg.store, path: resolve(baseDir, cfg.store.path) } : cfg.store,
    signing: { ...cfg.signing, keysPath: cfg.signing.keysPath === undefined ? undefined : resolve(baseDir, cfg.signing.keysPath) },
  };
}

/**
 * Starts the authorization service on `cfg.listen`. Everything protocol-level
 * is oidc-provider's; around it this adds the login and consent pages, request
 * size guards, RFC 8414 metadata, persistent storage and signing-key rotation.
 *
 * @example
 * const svc = await startAuthService(config.auth);
 * console.log(`issuer ${svc.issuer} listening on ${svc.url}`);
 * await svc.close();
 */
export async function startAuthService(config: AuthServiceConfig, opts: AuthServiceOptions = {}): Promise<AuthService> {
  const cfg = resolveAuthPaths(config, opts.baseDir);
  const now = opts.now ?? Date.now;
  const nowSeconds = () => Math.floor(now() / 1000);
  const logger = opts.logger;
  const accounts = await SqliteAccountStore.open(cfg.usersPath, { now }).catch(underKey('auth.usersPath'));
  let models: ModelStore;
  let keyRepo: KeyRepository;
  const limits = { maxAttemptsPerUser: cfg.login.maxAttemptsPerUser, maxAttemptsPerIp: cfg.login.maxAttemptsPerIp, windowSeconds: cfg.login.window };
  let limiter: LoginRateLimit;
  try {
    if (cfg.store.kind === 'sqlite') {
      models = await createSqliteModelStore(cfg.store.path, { now }).catch(underKey('auth.store.path'));
      keyRepo = fileKeyRepository(cfg.signing.keysPath as string);
      limiter = new LoginRateLimiter({ ...limits, now });
    } else {
      const redisModels = await createRedisModelStore(cfg.store.url, cfg.store.keyPrefix, { now });
      models = redisModels;
      keyRepo = redisKeyRepository(redisModels.redis, signingKeysRedisKey(cfg.store.keyPrefix));
      // Several instances share a Redis store: counted in one place, a guesser gets no more tries by spreading over them.
      limiter = new RedisLoginRateLimiter(redisModels.redis, { ...limits, keyPrefix: cfg.store.keyPrefix, secret: cfg.cookieKeys[0] as string });
    }
  } catch (err) {
    await accounts.close();
    throw err;
  }

  let keys: KeyFile;
  try {
    keys = await loadOrCreateKeys(keyRepo, cfg.signing.alg, nowSeconds());
  } catch (err) {
    await models.close();
    await accounts.close();
    throw err;
  }
  const signingAlg = eventualAlgorithm(keys, nowSeconds());
  if (signingAlg !== cfg.signing.alg) {
    // Not refused: switching algorithms needs a rotation, whose new key verifiers see in the JWKS
    // before it signs; a service that stopped instead would take every client down with it.
    logger?.warn(
      { event: 'signing_alg_mismatch', keysAlg: signingAlg, configuredAlg: cfg.signing.alg },
      `signing keys are ${signingAlg}, not the configured auth.signing.alg ${cfg.signing.alg}, which applies only to new keys: run \`gatehouse keys rotate --config FILE\` to switch (verifiers must accept both algorithms until the old key retires)`,
    );
  }
  let keysText = JSON.stringify(keys);
  let fingerprint = '';
  let provider!: Provider;
  let callback!: ReturnType<Provider['callback']>;
  const listeners: [string, (...args: unknown[]) => void][] = [];
  const currentProvider = (): Provider => {
    // The active key and the published set change with time (rotation schedule): rebuild when they do.
    const next = keyScheduleFingerprint(keys, now());
    if (next !== fingerprint) {
      provider = createProvider({ cfg, accounts, adapter: models.factory, keys, now });
      provider.on('server_error', (_ctx, err) => logger?.error({ err: { message: err.message, name: err.name } }, 'authorization service error'));
      for (const [event, listener] of listeners) (provider as unknown as EventEmitter).on(event, listener);
      callback = provider.callback();
      fingerprint = next;
    }
    return provider;
  };
  currentProvider();

  const reloadKeys = async (): Promise<void> => {
    const file = await keyRepo.read();
    if (file && JSON.stringify(file) !== keysText) {
      keys = file;
      keysText = JSON.stringify(file);
      logger?.info({ event: 'keys_reloaded', kids: file.keys.map((k) => k.kid) }, 'signing keys reloaded');
    }
  };
  const reloadTimer = setInterval(() => {
    reloadKeys().catch((err: Error) => logger?.warn({ err: { message: err.message } }, 'cannot reload signing keys'));
  }, timerDelay(Math.max(1, cfg.signing.reloadInterval) * 1000));
  reloadTimer.unref();

  const dummyHash = await hashPassword(randomBytes(16).toString('base64url'));
  const passwordChecks = new PasswordCheckSlots(cfg.login.maxConcurrentChecks, now);
  const trusted = createTrustedProxies(cfg.trustedProxies);

  const pinToIssuer = issuerOriginPinner(cfg.issuer);
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if ((req.url ?? '').length > cfg.maxUrlLength) return sendOAuthError(res, 414, 'invalid_request', 'request target too long');
    pinToIssuer(req);
    // No page of the service may be framed, including those oidc-provider renders itself (such as
    // its self-submitting sign-out form); pages of ours send a stricter policy over this one.
    res.setHeader('x-frame-options', 'DENY');
    res.setHeader('content-security-policy', "frame-ancestors 'none'");
    // A body must declare its length, so that maxBodyBytes holds before anything is read: a chunked
    // one reached oidc-provider, which cut it off only at its own 56 KiB, and then as a plain 400.
    // Form posts from browsers and OAuth clients always carry Content-Length.
    if (req.headers['transfer-encoding'] !== undefined) return sendOAuthError(res, 411, 'invalid_request', 'a request body needs a Content-Length');
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > cfg.maxBodyBytes) return sendOAuthError(res, 413, 'invalid_request', 'request body too large');
    const p = currentProvider();
    const path = (req.url ?? '/').split('?')[0] as string;
    // RFC 8414 metadata: the same document as OIDC discovery's (the issuer has no path, so no path suffix either).
    if (path === '/.well-known/oauth-authorization-server') req.url = '/.well-known/openid-configuration';
    if (await handleInteraction(req, res, p, { cfg, accounts, limiter, trusted, dummyHash, passwordChecks, logger })) return;
    await callback(req, res);
  };

  // Requests in flight, for a drain: a refresh-token rotation cut mid-response leaves the client
  // with the old token, whose replay then trips reuse detection and revokes the whole grant.
  const inFlight = new Set<ServerResponse>();
  let draining = false;
  let idle: (() => void) | undefined;
  const server = createServer((req, res) => {
    inFlight.add(res);
    res.once('close', () => {
      inFlight.delete(res);
      // While draining, a connection ends with its answer (once it is written), so no keep-alive client sends another request.
      if (draining) req.socket.destroySoon();
      if (inFlight.size === 0) idle?.();
    });
    if (draining) res.setHeader('connection', 'close');
    handle(req, res).catch((err: Error) => {
      logger?.error({ err: { message: err.message, name: err.name } }, 'authorization service request failed');
      if (!res.headersSent) sendOAuthError(res, 500, 'server_error', 'internal error');
      else res.destroy();
    });
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(cfg.listen.port, cfg.listen.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { address, port } = server.address() as AddressInfo;
  const url = `http://${address.includes(':') ? `[${address}]` : address}:${port}`;
  logger?.info({ event: 'auth_service_started', url, issuer: cfg.issuer, store: cfg.store.kind }, 'authorization service listening');

  return {
    url,
    issuer: cfg.issuer,
    get provider() {
      return currentProvider();
    },
    accounts,
    on(event, listener) {
      // Resolve the instance first, so a rebuild inside this call cannot attach the listener twice.
      const p = currentProvider();
      listeners.push([event, listener]);
      (p as unknown as EventEmitter).on(event, listener);
    },
    async rotateKeys() {
      const result = await rotateStoredKeys(keyRepo, {
        alg: cfg.signing.alg,
        rotationDelaySeconds: cfg.signing.rotationDelay,
        retireAfterSeconds: longestAccessTokenTtl(cfg),
        now: nowSeconds(),
      });
      await reloadKeys();
      return result;
    },
    reloadKeys,
    async close({ drainTimeoutMs = 0 } = {}) {
      clearInterval(reloadTimer);
      draining = true;
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      // Tell the clients of answers not yet begun that their connection ends with it.
      for (const res of inFlight) if (!res.headersSent) res.setHeader('connection', 'close');
      if (inFlight.size > 0 && drainTimeoutMs > 0) {
        await settleWithin(new Promise<void>((resolve) => (idle = resolve)), drainTimeoutMs);
        if (inFlight.size > 0) logger?.warn({ inFlight: inFlight.size }, 'authorization service drain timeout: closing remaining connections');
      }
      server.closeAllConnections();
      await stopped;
      await models.close();
      await accounts.close();
    },
  };
}

function sendOAuthError(res: ServerResponse, status: number, error: string, description: string): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', connection: 'close' });
  res.end(JSON.stringify({ error, error_description: description }));
}

/**
 * Makes every request look, to oidc-provider, as if it arrived at the issuer's
 * own origin. The service listens on plain HTTP behind whatever terminates TLS,
 * and oidc-provider builds its endpoint URLs (discovery, redirects) from the
 * request's scheme and host, and marks its cookies `Secure` only on a request it
 * takes for HTTPS. Taken from the request, an https issuer advertised
 * `http://…/token` (a client following discovery sent its secret in clear
 * text) and set cookies without `Secure`; and any `Host` or `X-Forwarded-Host`
 * a client sent became the host of the advertised endpoints, which a shared
 * cache could then serve to others. The issuer is the one public origin, so
 * it is the one used, whatever the request says.
 */
function issuerOriginPinner(issuer: string): (req: IncomingMessage) => void {
  const { protocol, host } = new URL(issuer);
  const proto = protocol.slice(0, -1);
  return (req) => {
    req.headers['x-forwarded-proto'] = proto;
    req.headers['x-forwarded-host'] = host;
  };
}
