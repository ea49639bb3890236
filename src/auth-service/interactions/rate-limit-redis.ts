import { createHmac } from 'node:crypto';
import type { Redis } from 'ioredis';
import { addressKey, userKey, type LoginRateLimit } from './rate-limit.js';

export interface RedisLoginRateLimitOptions {
  readonly maxAttemptsPerUser: number;
  readonly maxAttemptsPerIp: number;
  readonly windowSeconds: number;
  /** The store's key prefix: counters live under `<keyPrefix>ratelimit:`. */
  readonly keyPrefix: string;
  /** Keys the counters' names (an HMAC of the name or address), shared by every instance: the service's first cookie key. */
  readonly secret: string;
}

/**
 * Refuses when a counter is at its limit (answering the milliseconds left in its
 * window); otherwise counts the attempt on both, a first count opening the
 * window. One script, so two instances admitting at once cannot both slip
 * under a limit.
 */
const ADMIT = `
local wait = 0
for i, key in ipairs(KEYS) do
  if tonumber(redis.call('GET', key) or '0') >= tonumber(ARGV[i]) then
    local ttl = redis.call('PTTL', key)
    if ttl < 0 then
      redis.call('PEXPIRE', key, ARGV[3])
      ttl = tonumber(ARGV[3])
    end
    if ttl > wait then wait = ttl end
  end
end
if wait > 0 then return wait end
for _, key in ipairs(KEYS) do
  redis.call('INCR', key)
  -- A counter without a window opens one; a running window (also one a success counted back down) is kept.
  if redis.call('PTTL', key) < 0 then redis.call('PEXPIRE', key, ARGV[3]) end
end
return 0
`;

/** The username's count goes; the address gets its attempt back (DECR keeps the window). */
const SUCCEEDED = `
redis.call('DEL', KEYS[1])
if tonumber(redis.call('GET', KEYS[2]) or '0') > 0 then redis.call('DECR', KEYS[2]) end
return 0
`;

/**
 * The Redis keys counting `username` and `ip`. Keyed hashes: a plain SHA-256 of an address or a
 * common name is undone by trying them all (IPv4 in about an hour), so whoever reads the store
 * would read who tried to sign in from where. Rotating the first cookie key starts the counts afresh.
 */
export function loginRateLimitKeys(keyPrefix: string, secret: string, username: string, ip: string): [user: string, ip: string] {
  const digest = (v: string) => createHmac('sha256', secret).update(v).digest('base64url');
  return [`${keyPrefix}ratelimit:user:${digest(userKey(username))}`, `${keyPrefix}ratelimit:ip:${digest(addressKey(ip))}`];
}

/**
 * The login rate limit of {@link LoginRateLimiter}, with the same counting and
 * windows, kept in Redis: instances sharing a store share the counts, so a
 * guesser spreading attempts over N instances gets no more tries than at one.
 * Windows run on Redis's clock (key expiry), not the service's injected one.
 *
 * A failed round trip rejects; the login form then refuses the attempt (503)
 * rather than let it through uncounted (see routes.ts).
 */
export class RedisLoginRateLimiter implements LoginRateLimit {
  constructor(
    private readonly redis: Redis,
    private readonly opts: RedisLoginRateLimitOptions,
  ) {}

  async admit(username: string, ip: string): Promise<number> {
    const keys = loginRateLimitKeys(this.opts.keyPrefix, this.opts.secret, username, ip);
    const waitMs = Number(
      await this.redis.eval(ADMIT, 2, ...keys, this.opts.maxAttemptsPerUser, this.opts.maxAttemptsPerIp, Math.max(1, Math.ceil(this.opts.windowSeconds * 1000))),
    );
    return waitMs > 0 ? Math.ceil(waitMs / 1000) : 0;
  }

  async succeeded(username: string, ip: string): Promise<void> {
    await this.redis.eval(SUCCEEDED, 2, ...loginRateLimitKeys(this.opts.keyPrefix, this.opts.secret, username, ip));
  }
}
