import { isIPv6 } from 'node:net';
import { LRUCache } from 'lru-cache';
import { normalizeUsername } from '../accounts/store.js';
import { unmapIPv4 } from '../../server/trusted-proxies.js';

export interface LoginRateLimitOptions {
  readonly maxAttemptsPerUser: number;
  readonly maxAttemptsPerIp: number;
  readonly windowSeconds: number;
  /** Most keys tracked at once per dimension; the oldest are evicted first. */
  readonly maxEntries?: number;
  readonly now?: () => number;
}

/**
 * Failed-login counting as the login form uses it. The in-process
 * {@link LoginRateLimiter} answers at once; the Redis one (`rate-limit-redis.ts`),
 * shared by every instance on one store, answers after a round trip.
 */
export interface LoginRateLimit {
  /** Seconds until the caller may try again (nothing is counted), or 0: admitted and counted as a failure. */
  admit(username: string, ip: string): number | Promise<number>;
  /** The admitted attempt had the right password. */
  succeeded(username: string, ip: string): void | Promise<void>;
}

/**
 * Counts failed logins per username and per client address in bounded maps. A
 * key over its limit is refused (429) until its window ends, whatever the
 * password: guessing stops even when the guess would have been right.
 *
 * An attempt is counted when it is admitted, before its password is checked
 * (scrypt takes tens of milliseconds): counting only after a failure let every
 * guess sent in parallel pass the check before the first failure was recorded.
 * A right password takes its attempt back.
 *
 * Usernames are counted in the account store's own spelling (NFKC), since that
 * is the account a guess is tried against: `ａlice` and `alice` share one count.
 * IPv6 clients are counted per /64, the block one subscriber usually holds.
 */
export class LoginRateLimiter implements LoginRateLimit {
  private readonly users: AttemptCounts;
  private readonly ips: AttemptCounts;
  private readonly now: () => number;

  constructor(opts: LoginRateLimitOptions) {
    const max = opts.maxEntries ?? 10_000;
    const windowMs = opts.windowSeconds * 1000;
    this.users = new AttemptCounts(opts.maxAttemptsPerUser, windowMs, max);
    this.ips = new AttemptCounts(opts.maxAttemptsPerIp, windowMs, max);
    this.now = opts.now ?? Date.now;
  }

  /**
   * Seconds until the caller may try again (nothing is counted), or 0: the
   * attempt is admitted and counted as a failure until {@link succeeded} says otherwise.
   */
  admit(username: string, ip: string): number {
    const user = userKey(username);
    const address = addressKey(ip);
    const now = this.now();
    const wait = Math.max(this.users.retryAfter(user, now), this.ips.retryAfter(address, now));
    if (wait > 0) return wait;
    this.users.bump(user, now);
    this.ips.bump(address, now);
    return 0;
  }

  /**
   * The admitted attempt had the right password: the username's count is
   * cleared, and the address gets its attempt back (one success does not
   * unlock an address that sprayed many usernames).
   */
  succeeded(username: string, ip: string): void {
    this.users.clear(userKey(username));
    this.ips.giveBack(addressKey(ip), this.now());
  }
}

interface Bucket {
  failures: number;
  resetAt: number;
}

/**
 * Failures per key in one window, for one dimension (usernames or addresses).
 * Keys still under the limit live in an LRU bounded by `max`; a key that reaches
 * the limit moves to a map of its own, so a flood of other keys (made-up
 * usernames, fresh addresses) cannot evict a lockout and hand its owner a new
 * round of guesses. That map is bounded by `max` too: full, it drops lockouts
 * whose window ended, then the oldest, which an attacker had to earn with
 * `limit` password checks each.
 */
class AttemptCounts {
  private readonly counting: LRUCache<string, Bucket>;
  private readonly locked = new Map<string, Bucket>();

  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
    private readonly max: number,
  ) {
    this.counting = new LRUCache({ max });
  }

  /** Seconds until `key` may try again; 0 when it is under its limit. */
  retryAfter(key: string, now: number): number {
    const b = this.current(key, now);
    return b !== undefined && b.failures >= this.limit ? Math.ceil((b.resetAt - now) / 1000) : 0;
  }

  bump(key: string, now: number): void {
    let b = this.current(key, now);
    if (b === undefined) {
      this.locked.delete(key);
      b = { failures: 0, resetAt: now + this.windowMs };
      this.counting.set(key, b);
    }
    b.failures += 1;
    if (b.failures >= this.limit && !this.locked.has(key)) {
      this.counting.delete(key);
      this.lock(key, b, now);
    }
  }

  clear(key: string): void {
    this.counting.delete(key);
    this.locked.delete(key);
  }

  giveBack(key: string, now: number): void {
    const b = this.current(key, now);
    if (b !== undefined && b.failures > 0) b.failures -= 1;
  }

  /** The bucket of `key` in its window, wherever it is kept. */
  private current(key: string, now: number): Bucket | undefined {
    const b = this.locked.get(key) ?? this.counting.get(key);
    return b !== undefined && b.resetAt > now ? b : undefined;
  }

  private lock(key: string, b: Bucket, now: number): void {
    if (this.locked.size >= this.max) for (const [k, v] of this.locked) if (v.resetAt <= now) this.locked.delete(k);
    if (this.locked.size >= this.max) this.locked.delete(this.locked.keys().next().value as string);
    this.locked.set(key, b);
  }
}

/** A name the store refuses can never sign in; it is counted as sent. */
export function userKey(username: string): string {
  try {
    return normalizeUsername(username);
  } catch {
    return username;
  }
}

/** IPv4 as is; IPv6 by its first 64 bits (an IPv4-mapped address as its IPv4 address). */
export function addressKey(ip: string): string {
  const address = unmapIPv4(ip.toLowerCase());
  if (!isIPv6(address)) return address;
  const [head = '', tail] = address.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  return `${groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}
