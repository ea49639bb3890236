import { Redis } from 'ioredis';
import { errors, type Adapter, type AdapterPayload } from 'oidc-provider';
import { fromStored, mayBeLegacyTokenId, storedId, toStored } from './at-rest.js';
import { REPLAY_REVOKES, vanished, type ModelStore } from './sqlite.js';

/** Models that belong to a grant and go when it is revoked. */
const GRANTABLE = new Set(['AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest', 'ClientCredentials']);

interface Stored {
  /** Expiry per the injected clock, epoch ms; null when the model does not expire. */
  e: number | null;
  p: AdapterPayload;
}

/**
 * oidc-provider models in Redis, every key under `keyPrefix`. Each value
 * carries its own expiry (checked against the injected clock) and a Redis TTL
 * (so Redis drops it without a sweeper). A grant's members are listed in a
 * set under `grant:<id>` so `revokeByGrantId` deletes the whole family in one
 * transaction; uid and user-code lookups go through small pointer keys.
 */
export async function createRedisModelStore(url: string, keyPrefix: string, opts: { now?: () => number } = {}): Promise<ModelStore & { redis: Redis }> {
  const now = opts.now ?? Date.now;
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 2, enableOfflineQueue: true });
  // Without a listener ioredis reports connection errors as unhandled; commands still reject.
  let lastError: Error | undefined;
  redis.on('error', (err: Error) => {
    lastError = err;
  });
  try {
    await redis.connect();
  } catch (err) {
    redis.disconnect();
    const where = URL.parse(url);
    // Host and port only: the URL may carry a password.
    throw new Error(`cannot connect to Redis at ${where?.host ?? 'the configured URL'}: ${(lastError ?? (err as Error)).message}`, { cause: err });
  }
  return {
    redis,
    factory: (model: string) => new RedisAdapter(model, redis, keyPrefix, now),
    async close() {
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}

class RedisAdapter implements Adapter {
  constructor(
    private readonly model: string,
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly now: () => number,
  ) {}

  private key(id: string): string {
    return `${this.prefix}${this.model}:${storedId(this.model, id)}`;
  }

  /** Where a token stored before tokens were kept under their digest lives, until it expires. */
  private legacyKey(id: string): string | undefined {
    return mayBeLegacyTokenId(this.model, id) ? `${this.prefix}${this.model}:${id}` : undefined;
  }

  /** The key holding `id` now: its digest key, or a legacy one that still exists. */
  private async liveKey(id: string): Promise<string> {
    const key = this.key(id);
    const legacy = this.legacyKey(id);
    if (legacy === undefined || (await this.redis.exists(key)) === 1) return key;
    return (await this.redis.exists(legacy)) === 1 ? legacy : key;
  }

  async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
    const key = this.key(id);
    const ttl = typeof expiresIn === 'number' ? Math.max(1, Math.ceil(expiresIn)) : undefined;
    const value: Stored = { e: ttl === undefined ? null : this.now() + (expiresIn as number) * 1000, p: toStored(this.model, payload) };
    const multi = this.redis.multi();
    if (ttl === undefined) multi.set(key, JSON.stringify(value));
    else multi.set(key, JSON.stringify(value), 'EX', ttl);
    if (GRANTABLE.has(this.model) && payload.grantId) {
      const grantKey = `${this.prefix}grant:${payload.grantId}`;
      multi.sadd(grantKey, key);
      // The set must outlive its longest member; GT only ever extends it.
      if (ttl !== undefined) multi.expire(grantKey, ttl, 'GT');
      multi.expire(grantKey, ttl ?? 30 * 86400, 'NX');
    }
    if (payload.userCode) {
      multi.set(`${this.prefix}userCode:${payload.userCode}`, id, ...((ttl ? ['EX', ttl] : []) as ['EX', number]));
    }
    if (payload.uid) {
      multi.set(`${this.prefix}uid:${payload.uid}`, id, ...((ttl ? ['EX', ttl] : []) as ['EX', number]));
    }
    await multi.exec();
  }

  async find(id: string): Promise<AdapterPayload | undefined> {
    const legacy = this.legacyKey(id);
    const raw = (await this.redis.get(this.key(id))) ?? (legacy === undefined ? null : await this.redis.get(legacy));
    const payload = this.decode(raw);
    return payload && fromStored(this.model, id, payload);
  }

  async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
    const id = await this.redis.get(`${this.prefix}userCode:${userCode}`);
    return id ? this.find(id) : undefined;
  }

  async findByUid(uid: string): Promise<AdapterPayload | undefined> {
    const id = await this.redis.get(`${this.prefix}uid:${uid}`);
    return id ? this.find(id) : undefined;
  }

  async consume(id: string): Promise<void> {
    const key = await this.liveKey(id);
    const ttlMs = await this.redis.pttl(key);
    if (ttlMs === -2) return vanished(this.model);
    const at = Math.floor(this.now() / 1000);
    // SET NX on a marker is the atomic step: of two instances racing with the same refresh token, exactly one wins.
    const won = ttlMs > 0 ? await this.redis.set(`${key}:consumed`, String(at), 'PX', ttlMs, 'NX') : await this.redis.set(`${key}:consumed`, String(at), 'NX');
    const raw = await this.redis.get(key);
    if (won === 'OK') {
      if (!raw) return vanished(this.model);
      const stored = JSON.parse(raw) as Stored;
      stored.p = { ...stored.p, consumed: at };
      // XX: a revocation may have deleted the record since the GET, and a plain SET brought it back,
      // consumed, outside its grant's set and without a TTL (KEEPTTL of nothing is none): kept forever.
      if ((await this.redis.set(key, JSON.stringify(stored), 'KEEPTTL', 'XX')) === null) return vanished(this.model);
      return;
    }
    if (!REPLAY_REVOKES.has(this.model)) return;
    const row = raw ? (JSON.parse(raw) as Stored).p : undefined;
    // The loser of the race is a replay (RFC 9700 §4.14.2, RFC 6749 §4.1.2): end the whole grant, as oidc-provider does for a later one.
    if (row?.grantId) {
      await this.revokeByGrantId(row.grantId);
      await this.redis.del(`${this.prefix}Grant:${row.grantId}`);
    }
    throw new errors.InvalidGrant(`${this.model === 'RefreshToken' ? 'refresh token' : 'authorization code'} already used`);
  }

  async destroy(id: string): Promise<void> {
    const legacy = this.legacyKey(id);
    await this.redis.del(this.key(id), `${this.key(id)}:consumed`, ...(legacy === undefined ? [] : [legacy, `${legacy}:consumed`]));
  }

  async revokeByGrantId(grantId: string): Promise<void> {
    const grantKey = `${this.prefix}grant:${grantId}`;
    const members = await this.redis.smembers(grantKey);
    await this.redis.del(grantKey, ...members);
  }

  private decode(raw: string | null): AdapterPayload | undefined {
    if (!raw) return undefined;
    const stored = JSON.parse(raw) as Stored;
    if (stored.e !== null && stored.e <= this.now()) return undefined;
    return stored.p;
  }
}
