import { randomUUID } from 'node:crypto';
import { GatehouseError } from '../../errors.js';
import { systemClock, type Clock, type HeldLock, type SessionEntry, type SessionKey, type SessionStore, type StoredSession } from '../store.js';
import { timerDelay } from '../../timers.js';

export interface MemorySessionStoreOptions {
  /** Most entries held; beyond it the least recently written entry is evicted. Default 100000. */
  readonly maxEntries?: number;
  readonly clock?: Clock;
  /** Interval of the background sweep of expired entries (unref'd). 0 disables it. */
  readonly sweepIntervalMs?: number;
}

interface Held {
  readonly token: string;
  expiresAtMs: number;
}

/**
 * The embedded store: one process, bounded, expiring. When full, the least
 * recently written entry is evicted (a Map keeps insertion order, and a write
 * re-inserts), which ends that session early rather than growing without bound.
 * Pinned entries (revocation records) are never evicted: evicting one would
 * revive a session that was ended. They count toward `maxEntries`, and a write
 * that would need to evict one is refused with GH_SESSION_STORE_UNAVAILABLE.
 */
export class MemorySessionStore implements SessionStore {
  /** Evictable entries, least recently written first. */
  private readonly entries = new Map<SessionKey, StoredSession>();
  /** Pinned entries, apart so that eviction never has to pass over them. */
  private readonly pinned = new Map<SessionKey, StoredSession>();
  private readonly owners = new Map<string, Set<SessionKey>>();
  private readonly locks = new Map<string, Held>();
  private readonly maxEntries: number;
  private readonly now: Clock;
  private readonly sweeper: NodeJS.Timeout | undefined;

  constructor(opts: MemorySessionStoreOptions = {}) {
    this.maxEntries = opts.maxEntries ?? 100_000;
    if (!Number.isInteger(this.maxEntries) || this.maxEntries < 1) throw new RangeError('maxEntries must be a positive integer');
    this.now = opts.clock ?? systemClock;
    const sweepMs = opts.sweepIntervalMs ?? 60_000;
    if (sweepMs > 0) {
      this.sweeper = setInterval(() => this.sweep(), timerDelay(sweepMs));
      this.sweeper.unref();
    }
  }

  /** Number of entries held, live or not yet swept. */
  get size(): number {
    return this.entries.size + this.pinned.size;
  }

  async get(key: SessionKey): Promise<StoredSession | undefined> {
    return this.live(key);
  }

  peek(key: SessionKey): StoredSession | undefined {
    return this.live(key);
  }

  async put(key: SessionKey, entry: SessionEntry, ttlSeconds: number): Promise<void> {
    this.write(key, entry, ttlSeconds);
  }

  async replace(key: SessionKey, entry: SessionEntry, ttlSeconds: number, expectedVersion: number): Promise<boolean> {
    const current = this.live(key);
    if (!current || current.version !== expectedVersion) return false;
    this.write(key, entry, ttlSeconds);
    return true;
  }

  async delete(key: SessionKey): Promise<void> {
    this.remove(key);
  }

  async listByOwner(owner: string): Promise<SessionKey[]> {
    const keys = this.owners.get(owner);
    if (!keys) return [];
    return [...keys].filter((k) => this.live(k) !== undefined);
  }

  async tryLock(name: string, ttlMs: number): Promise<HeldLock | undefined> {
    const held = this.locks.get(name);
    if (held && held.expiresAtMs > this.now()) return undefined;
    const token = randomUUID();
    this.locks.set(name, { token, expiresAtMs: this.now() + ttlMs });
    // Only the holder that took it may release or extend it: after expiry another holder may own the name.
    const mine = (): Held | undefined => {
      const h = this.locks.get(name);
      return h?.token === token && h.expiresAtMs > this.now() ? h : undefined;
    };
    return {
      release: async () => {
        if (this.locks.get(name)?.token === token) this.locks.delete(name);
      },
      extend: async (ms) => {
        const h = mine();
        if (h) h.expiresAtMs = this.now() + ms;
        return h !== undefined;
      },
    };
  }

  async close(): Promise<void> {
    if (this.sweeper) clearInterval(this.sweeper);
    this.entries.clear();
    this.pinned.clear();
    this.owners.clear();
    this.locks.clear();
  }

  /** Drops expired entries and locks. Runs on a timer; callable directly. */
  sweep(): void {
    const now = this.now();
    for (const map of [this.entries, this.pinned]) for (const [key, entry] of map) if (entry.expiresAtMs <= now) this.remove(key);
    for (const [name, held] of this.locks) if (held.expiresAtMs <= now) this.locks.delete(name);
  }

  private live(key: SessionKey): StoredSession | undefined {
    const entry = this.entries.get(key) ?? this.pinned.get(key);
    if (!entry) return undefined;
    if (entry.expiresAtMs <= this.now()) {
      this.remove(key);
      return undefined;
    }
    return entry;
  }

  private write(key: SessionKey, entry: SessionEntry, ttlSeconds: number): void {
    this.remove(key);
    if (this.size >= this.maxEntries && this.entries.size === 0) {
      this.sweep();
      if (this.size >= this.maxEntries) throw new GatehouseError('GH_SESSION_STORE_UNAVAILABLE', 'session store full of revocation records');
    }
    const stored: StoredSession = {
      data: entry.data,
      version: entry.version,
      expiresAtMs: this.now() + Math.max(0, ttlSeconds) * 1000,
      ...(entry.owner !== undefined ? { owner: entry.owner } : {}),
      ...(entry.pinned ? { pinned: true } : {}),
    };
    (entry.pinned ? this.pinned : this.entries).set(key, stored);
    if (entry.owner !== undefined) {
      let set = this.owners.get(entry.owner);
      if (!set) this.owners.set(entry.owner, (set = new Set()));
      set.add(key);
    }
    while (this.size > this.maxEntries && this.entries.size > 0) {
      this.remove(this.entries.keys().next().value as SessionKey);
    }
  }

  private remove(key: SessionKey): void {
    const entry = this.entries.get(key) ?? this.pinned.get(key);
    if (!entry) return;
    this.entries.delete(key);
    this.pinned.delete(key);
    if (entry.owner === undefined) return;
    const set = this.owners.get(entry.owner);
    set?.delete(key);
    if (set?.size === 0) this.owners.delete(entry.owner);
  }
}
