import { LRUCache } from 'lru-cache';

export interface LoginRateLimitOptions {
  readonly maxAttemptsPerUser: number;
  readonly maxAttemptsPerIp: number;
  readonly windowSeconds: number;
  /** Most keys tracked at once per dimension; the oldest are evicted first. */
  readonly maxEntries?: number;
  readonly now?: () => number;
}

interface Bucket {
  failures: number;
  resetAt: number;
}

/**
 * Counts failed logins per username and per client IP in bounded maps. A key
 * over its limit is refused (429) until its window ends, whatever the password:
 * guessing stops even when the guess would have been right.
 */
export class LoginRateLimiter {
  private readonly users: LRUCache<string, Bucket>;
  private readonly ips: LRUCache<string, Bucket>;
  private readonly now: () => number;

  constructor(private readonly opts: LoginRateLimitOptions) {
    const max = opts.maxEntries ?? 10_000;
    this.users = new LRUCache({ max });
    this.ips = new LRUCache({ max });
    this.now = opts.now ?? Date.now;
  }

  /** Seconds until the caller may try again, or 0 when allowed. */
  retryAfterSeconds(username: string, ip: string): number {
    const now = this.now();
    const wait = (map: LRUCache<string, Bucket>, key: string, limit: number): number => {
      const b = map.get(key);
      if (!b || b.resetAt <= now) return 0;
      return b.failures >= limit ? Math.ceil((b.resetAt - now) / 1000) : 0;
    };
    return Math.max(wait(this.users, username, this.opts.maxAttemptsPerUser), wait(this.ips, ip, this.opts.maxAttemptsPerIp));
  }

  recordFailure(username: string, ip: string): void {
    this.bump(this.users, username);
    this.bump(this.ips, ip);
  }

  /** A successful login clears the username's count (not the IP's: one success should not unlock a sprayer). */
  recordSuccess(username: string): void {
    this.users.delete(username);
  }

  private bump(map: LRUCache<string, Bucket>, key: string): void {
    const now = this.now();
    const b = map.get(key);
    if (!b || b.resetAt <= now) map.set(key, { failures: 1, resetAt: now + this.opts.windowSeconds * 1000 });
    else b.failures += 1;
  }
}
