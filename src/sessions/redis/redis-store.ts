import { randomBytes } from 'node:crypto';
import { Redis, ReplyError, type RedisOptions } from 'ioredis';
import { GatehouseError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { systemClock, type Clock, type HeldLock, type SessionEntry, type SessionKey, type SessionStore, type StoredSession } from '../store.js';

export interface RedisSessionStoreOptions {
  /** Prepended to every key, so several deployments (or test runs) share one Redis. Default `gh:sess:`. */
  readonly prefix?: string;
  readonly clock?: Clock;
  /** A command that gets no answer within this long fails (503), rather than hanging a request. Default 2000. */
  readonly commandTimeoutMs?: number;
  /** Extra ioredis options (TLS, Sentinel, password …) when connecting by URL. */
  readonly redis?: RedisOptions;
  /**
   * Told when Redis stops answering (a warning, once per outage) and answers again: an outage
   * shows as 503s on session routes only, and `/readyz` stays ready (see `isReady`).
   */
  readonly logger?: Pick<Logger, 'warn' | 'info'>;
}

// Entries are hashes {d: data, o: owner, v: version, e: expiresAtMs}; an owner's
// index is a sorted set of session keys scored by expiry, trimmed on each write
// and kept alive as long as its longest-lived member. Scripts keep each write
// atomic: a reader never sees an entry without its index, or a half rotation.
// Every change publishes the session key on the invalidation channel (ARGV[8]),
// from inside the script, so the message is on its way to every subscribed
// instance before the writer hears back (see cached-store.ts).
const WRITE = `
local function write()
  redis.call('HSET', KEYS[1], 'd', ARGV[1], 'o', ARGV[2], 'v', ARGV[3], 'e', ARGV[5])
  redis.call('PUBLISH', ARGV[8], ARGV[7])
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
  if ARGV[2] ~= '' then
    redis.call('ZADD', KEYS[2], ARGV[5], ARGV[7])
    redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[6])
    if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[4]) then redis.call('PEXPIRE', KEYS[2], ARGV[4]) end
  end
end`;

const PUT = `${WRITE}
write()
return 1`;

// ARGV[9] = expected version. A missing or expired entry never matches.
const REPLACE = `${WRITE}
local cur = redis.call('HMGET', KEYS[1], 'v', 'e')
if not cur[1] or cur[1] ~= ARGV[9] or tonumber(cur[2]) <= tonumber(ARGV[6]) then return 0 end
write()
return 1`;

// KEYS[1] = entry; ARGV[1] = owner-index prefix, ARGV[2] = member, ARGV[3] = invalidation channel.
const DELETE = `
local owner = redis.call('HGET', KEYS[1], 'o')
redis.call('DEL', KEYS[1])
redis.call('PUBLISH', ARGV[3], ARGV[2])
if owner and owner ~= '' then redis.call('ZREM', ARGV[1] .. owner, ARGV[2]) end
return 1`;

// Release or extend only while the lock still carries our token: after expiry it may be someone else's.
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;
const EXTEND = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`;

type ScriptFn = (...args: (string | number)[]) => Promise<unknown>;

/** Error replies by which Redis refuses service (full, a read-only replica, persistence failing, busy, not allowed …). */
const REFUSING_SERVICE = /^(OOM|READONLY|MISCONF|BUSY|NOPERM|NOAUTH|LOADING|MASTERDOWN|CLUSTERDOWN|TRYAGAIN)\b/;

/**
 * Whether a failed command means the store is out of service: no answer (a closed or refused
 * connection, a timeout) or a refusal of service. Another error reply (a key of the wrong type, a
 * script error) came from a Redis that serves, and is about one entry.
 */
function isOutage(err: Error): boolean {
  return !(err instanceof (ReplyError as new () => Error)) || REFUSING_SERVICE.test(err.message);
}

/**
 * Sessions in Redis, shared by every gateway instance. Keys: `<prefix>s:<key>`
 * (entry), `<prefix>o:<owner>` (index), `<prefix>l:<name>` (lock); channel
 * `<prefix>inv` carries the key of every changed or deleted entry. Expiry is
 * enforced twice: Redis TTLs reclaim memory, and reads compare the stored expiry
 * with the injected clock so tests need not sleep.
 *
 * Any Redis failure (refused, timed out, closed) surfaces as
 * GH_SESSION_STORE_UNAVAILABLE (503); the client reconnects on its own and
 * nothing written before the outage is lost.
 */
export class RedisSessionStore implements SessionStore {
  private readonly prefix: string;
  private readonly now: Clock;
  private readonly logger: Pick<Logger, 'warn' | 'info'> | undefined;
  /** Whether an outage has been reported and not yet its end. */
  private down = false;
  /** Pub/sub channel on which every write and delete publishes the changed session key. */
  readonly invalidationChannel: string;
  /** Resolves once Redis has answered (the first connection is up); never rejects. */
  readonly ready: Promise<void>;
  private connectedOnce = false;

  private constructor(
    private readonly client: Redis,
    private readonly ownsClient: boolean,
    opts: RedisSessionStoreOptions,
  ) {
    this.prefix = opts.prefix ?? 'gh:sess:';
    this.invalidationChannel = `${this.prefix}inv`;
    this.now = opts.clock ?? systemClock;
    this.logger = opts.logger;
    if (this.logger !== undefined) {
      client.on('error', (err: Error) => this.lost(err));
      client.on('ready', () => this.restored());
    }
    this.ready = client.status === 'ready' ? Promise.resolve() : new Promise((resolve) => client.once('ready', () => resolve()));
    void this.ready.then(() => (this.connectedOnce = true));
    client.defineCommand('ghSessPut', { numberOfKeys: 2, lua: PUT });
    client.defineCommand('ghSessReplace', { numberOfKeys: 2, lua: REPLACE });
    client.defineCommand('ghSessDelete', { numberOfKeys: 1, lua: DELETE });
    client.defineCommand('ghSessRelease', { numberOfKeys: 1, lua: RELEASE });
    client.defineCommand('ghSessExtend', { numberOfKeys: 1, lua: EXTEND });
  }

  /** Connects and waits until Redis answers; rejects (GH_SESSION_STORE_UNAVAILABLE) when it does not. */
  static async connect(url: string, opts: RedisSessionStoreOptions = {}): Promise<RedisSessionStore> {
    const client = RedisSessionStore.client(url, opts);
    try {
      await client.connect();
      await client.ping();
    } catch (err) {
      client.disconnect();
      throw new GatehouseError('GH_SESSION_STORE_UNAVAILABLE', 'session store unavailable', { cause: err });
    }
    return new RedisSessionStore(client, true, opts);
  }

  /**
   * A store that connects in the background (for a gateway that must start
   * while Redis is still coming up): until Redis answers, calls fail with 503.
   */
  static open(url: string, opts: RedisSessionStoreOptions = {}): RedisSessionStore {
    const client = RedisSessionStore.client(url, opts);
    client.connect().catch(() => {
      // Retried by ioredis; requests see 503 until it succeeds.
    });
    return new RedisSessionStore(client, true, opts);
  }

  private static client(url: string, opts: RedisSessionStoreOptions): Redis {
    const client = new Redis(url, {
      lazyConnect: true,
      // Fail fast while disconnected instead of queueing requests behind an outage.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      commandTimeout: opts.commandTimeoutMs ?? 2000,
      connectTimeout: opts.commandTimeoutMs ?? 2000,
      retryStrategy: (times) => Math.min(50 * times, 1000),
      ...opts.redis,
    });
    // Without a listener an emitted 'error' would crash the process; failures reach callers as 503s.
    client.on('error', () => {});
    return client;
  }

  /**
   * True once Redis has answered at least once. A later outage does not make
   * the gateway unready: every instance shares this Redis, so taking them all
   * out of the load balancer would also stop routes that need no session; those
   * requests get 503 one by one instead.
   */
  isReady(): boolean {
    return this.connectedOnce || this.client.status === 'ready';
  }

  /** Uses a client the caller owns (and closes). */
  static fromClient(client: Redis, opts: RedisSessionStoreOptions = {}): RedisSessionStore {
    return new RedisSessionStore(client, false, opts);
  }

  /**
   * A second connection to the same Redis (same options), not yet connected,
   * for subscribing to the invalidation channel: a subscribed connection can
   * run no other command.
   */
  duplicateClient(): Redis {
    const client = this.client.duplicate({ lazyConnect: true, autoResubscribe: false });
    client.on('error', () => {});
    return client;
  }

  async get(key: SessionKey): Promise<StoredSession | undefined> {
    const [data, owner, version, expires] = await this.call(() => this.client.hmget(this.entryKey(key), 'd', 'o', 'v', 'e'));
    if (data === null || version === null || expires === null) return undefined;
    const expiresAtMs = Number(expires);
    if (expiresAtMs <= this.now()) return undefined;
    return { data, version: Number(version), expiresAtMs, ...(owner ? { owner } : {}) };
  }

  async put(key: SessionKey, entry: SessionEntry, ttlSeconds: number): Promise<void> {
    await this.call(() => this.script('ghSessPut')(...this.writeArgs(key, entry, ttlSeconds)));
  }

  async replace(key: SessionKey, entry: SessionEntry, ttlSeconds: number, expectedVersion: number): Promise<boolean> {
    const done = await this.call(() => this.script('ghSessReplace')(...this.writeArgs(key, entry, ttlSeconds), String(expectedVersion)));
    return done === 1;
  }

  async delete(key: SessionKey): Promise<void> {
    await this.call(() => this.script('ghSessDelete')(this.entryKey(key), `${this.prefix}o:`, key, this.invalidationChannel));
  }

  async listByOwner(owner: string): Promise<SessionKey[]> {
    return this.call(() => this.client.zrangebyscore(this.ownerKey(owner), `(${this.now()}`, '+inf'));
  }

  async tryLock(name: string, ttlMs: number): Promise<HeldLock | undefined> {
    const lockKey = `${this.prefix}l:${name}`;
    const token = randomBytes(16).toString('base64url');
    const ok = await this.call(() => this.client.set(lockKey, token, 'PX', Math.max(1, Math.ceil(ttlMs)), 'NX'));
    if (ok !== 'OK') return undefined;
    return {
      release: async () => {
        await this.call(() => this.script('ghSessRelease')(lockKey, token));
      },
      extend: async (ms) => (await this.call(() => this.script('ghSessExtend')(lockKey, token, Math.max(1, Math.ceil(ms))))) === 1,
    };
  }

  async close(): Promise<void> {
    if (!this.ownsClient) return;
    try {
      await this.client.quit();
    } catch {
      // Already disconnected: nothing left to close.
      this.client.disconnect();
    }
  }

  private writeArgs(key: SessionKey, entry: SessionEntry, ttlSeconds: number): (string | number)[] {
    const now = this.now();
    const ttlMs = Math.max(1, Math.ceil(ttlSeconds * 1000));
    const owner = entry.owner ?? '';
    return [
      this.entryKey(key),
      this.ownerKey(owner),
      entry.data,
      owner,
      String(entry.version),
      ttlMs,
      now + ttlMs,
      now,
      key,
      this.invalidationChannel,
    ];
  }

  private entryKey(key: SessionKey): string {
    return `${this.prefix}s:${key}`;
  }

  private ownerKey(owner: string): string {
    return `${this.prefix}o:${owner}`;
  }

  private script(name: string): ScriptFn {
    const fn = (this.client as unknown as Record<string, ScriptFn>)[name];
    return fn.bind(this.client);
  }

  private async call<T>(op: () => Promise<T>): Promise<T> {
    try {
      const result = await op();
      if (this.down) this.restored(); // a frozen Redis that thawed keeps its connection: no 'ready'
      return result;
    } catch (err) {
      // A frozen Redis keeps its connection: only commands timing out tell.
      if (isOutage(err as Error)) this.lost(err as Error);
      throw new GatehouseError('GH_SESSION_STORE_UNAVAILABLE', 'session store unavailable', { cause: err });
    }
  }

  /** Reports an outage once, however many commands and reconnection attempts fail during it. */
  private lost(err: Error): void {
    if (this.down || this.logger === undefined) return;
    this.down = true;
    // The message only: an ioredis error may carry the command and its arguments (session keys).
    this.logger.warn({ err: { message: err.message } }, 'session store (Redis) not answering: session requests get 503 until it is back');
  }

  private restored(): void {
    if (!this.down) return;
    this.down = false;
    this.logger?.info('session store (Redis) answering again');
  }
}
