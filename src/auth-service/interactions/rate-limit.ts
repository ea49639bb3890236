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

interface Bucket {
  failures: number;
  resetAt: number;
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
  private readonly users: LRUCache<string, Bucket>;
  private readonly ips: LRUCache<string, Bucket>;
  private readonly now: () => number;

  constructor(private readonly opts: LoginRateLimitOptions) {
    const max = opts.maxEntries ?? 10_000;
    this.users = new LRUCache({ max });
    this.ips = new LRUCache({ max });
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
    const wait = Math.max(
      this.retryAfter(this.users, user, this.opts.maxAttemptsPerUser, now),
      this.retryAfter(this.ips, address, this.opts.maxAttemptsPerIp, now),
    );
    if (wait > 0) return wait;
    this.bump(this.users, user, now);
    this.bump(this.ips, address, now);
    return 0;
  }

  /**
   * The admitted attempt had the right password: the username's count is
   * cleared, and the address gets its attempt back (one success does not
   * unlock an address that sprayed many usernames).
   */
  succeeded(username: string, ip: string): void {
    this.users.delete(userKey(username));
    const b = this.ips.get(addressKey(ip));
    if (b && b.failures > 0) b.failures -= 1;
  }

  private retryAfter(map: LRUCache<string, Bucket>, key: string, limit: number, now: number): number {
    const b = map.get(key);
    if (!b || b.resetAt <= now) return 0;
    return b.failures >= limit ? Math.ceil((b.resetAt - now) / 1000) : 0;
  }

  private bump(map: LRUCache<string, Bucket>, key: string, now: number): void {
    const b = map.get(key);
    if (!b || b.resetAt <= now) map.set(key, { failures: 1, resetAt: now + this.opts.windowSeconds * 1000 });
    else b.failures += 1;
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
