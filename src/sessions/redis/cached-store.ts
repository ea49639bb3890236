import { EventEmitter } from 'node:events';
import type { Redis } from 'ioredis';
import { NOT_LOCAL, systemClock, type Clock, type GetOptions, type HeldLock, type SessionEntry, type SessionKey, type SessionStore, type StoredSession } from '../store.js';
import type { RedisSessionStore } from './redis-store.js';

export interface CachedSessionStoreOptions {
  /** Most keys held (present or known absent); beyond it the oldest read goes first. */
  readonly maxEntries: number;
  /**
   * Longest a cached read is served without asking Redis again: the safety net
   * for an invalidation lost while the subscriber looked connected (a frozen or
   * partitioned Redis), and so the longest an outage or a missed revocation
   * can go unnoticed.
   */
  readonly ttlMs: number;
  readonly clock?: Clock;
}

interface Cached {
  readonly value: StoredSession | undefined;
  readonly untilMs: number;
}

interface Flight {
  readonly promise: Promise<StoredSession | undefined>;
  /** Set when an invalidation for the key arrived while the read was on its way: its answer may predate the change. */
  stale: boolean;
}

/**
 * A bounded local read cache in front of the Redis store, kept correct across
 * gateway instances by pub/sub: every write and delete, from any instance,
 * publishes the session key (inside the write script), and every instance
 * evicts it on the message. The cache is used only while the subscriber
 * connection is subscribed; when it drops the cache is emptied and bypassed,
 * and on resubscribe it starts empty again (messages may have been missed).
 * Locks, the owner index and `get(key, { fresh: true })` always go to Redis.
 *
 * Events: `invalidated` (key) after a message evicted a key, `subscribed` once
 * invalidations flow (after every (re)connect), `unsubscribed` when they stop.
 */
export class CachedSessionStore extends EventEmitter implements SessionStore {
  private readonly entries = new Map<SessionKey, Cached>();
  private readonly inflight = new Map<SessionKey, Flight>();
  private readonly maxEntries: number;
  private readonly ttlMs: number;
  private readonly now: Clock;
  private readonly subscriber: Redis;
  private subscribed = false;
  private closed = false;

  constructor(
    private readonly inner: RedisSessionStore,
    opts: CachedSessionStoreOptions,
  ) {
    super();
    if (!Number.isInteger(opts.maxEntries) || opts.maxEntries < 1) throw new RangeError('maxEntries must be a positive integer');
    if (!(opts.ttlMs > 0)) throw new RangeError('ttlMs must be positive');
    this.maxEntries = opts.maxEntries;
    this.ttlMs = opts.ttlMs;
    this.now = opts.clock ?? systemClock;
    const channel = inner.invalidationChannel;
    this.subscriber = inner.duplicateClient();
    this.subscriber.on('message', (ch: string, key: string) => {
      if (ch !== channel) return;
      this.evict(key);
      this.emit('invalidated', key);
    });
    // Resubscribed by hand on every connect, so the cache is emptied only once the subscription is confirmed.
    this.subscriber.on('ready', () => {
      this.subscriber.subscribe(channel).then(
        () => {
          if (this.closed || this.subscriber.status !== 'ready') return;
          this.evictAll();
          this.subscribed = true;
          this.emit('subscribed');
        },
        () => this.subscriber.disconnect(true),
      );
    });
    this.subscriber.on('close', () => {
      const was = this.subscribed;
      this.subscribed = false;
      this.evictAll();
      if (was) this.emit('unsubscribed');
    });
    this.subscriber.connect().catch(() => {
      // Retried by ioredis; reads go to Redis until the subscription is up.
    });
  }

  /** True while invalidations flow and cached reads are served. */
  get isSubscribed(): boolean {
    return this.subscribed;
  }

  /** Keys held (present or known absent). */
  get size(): number {
    return this.entries.size;
  }

  /** True when a read of `key` would be answered locally (tests). */
  isCached(key: SessionKey): boolean {
    const hit = this.entries.get(key);
    return this.subscribed && hit !== undefined && hit.untilMs > this.now();
  }

  /** Resolves once Redis has answered (the first connection is up); never rejects. */
  get ready(): Promise<void> {
    return this.inner.ready;
  }

  isReady(): boolean {
    return this.inner.isReady();
  }

  peek(key: SessionKey): StoredSession | undefined | typeof NOT_LOCAL {
    if (!this.subscribed) return NOT_LOCAL;
    const hit = this.entries.get(key);
    if (hit === undefined) return NOT_LOCAL;
    const now = this.now();
    if (hit.untilMs <= now) return NOT_LOCAL;
    return hit.value !== undefined && hit.value.expiresAtMs <= now ? undefined : hit.value;
  }

  get(key: SessionKey, opts?: GetOptions): Promise<StoredSession | undefined> {
    if (!this.subscribed || opts?.fresh === true) return this.guard(this.inner.get(key));
    const local = this.peek(key);
    if (local !== NOT_LOCAL) return Promise.resolve(local);
    this.entries.delete(key); // stale, if held at all
    const running = this.inflight.get(key);
    if (running !== undefined) return running.promise;
    const flight: Flight = {
      stale: false,
      promise: this.guard(this.inner.get(key)).then(
        (value) => {
          if (this.inflight.get(key) === flight) this.inflight.delete(key);
          if (!flight.stale && this.subscribed) this.remember(key, value);
          return value;
        },
        (err: unknown) => {
          if (this.inflight.get(key) === flight) this.inflight.delete(key);
          throw err;
        },
      ),
    };
    this.inflight.set(key, flight);
    return flight.promise;
  }

  async put(key: SessionKey, entry: SessionEntry, ttlSeconds: number): Promise<void> {
    this.evict(key);
    await this.guard(this.inner.put(key, entry, ttlSeconds));
    this.evict(key);
  }

  async replace(key: SessionKey, entry: SessionEntry, ttlSeconds: number, expectedVersion: number): Promise<boolean> {
    this.evict(key);
    const done = await this.guard(this.inner.replace(key, entry, ttlSeconds, expectedVersion));
    this.evict(key);
    return done;
  }

  async delete(key: SessionKey): Promise<void> {
    this.evict(key);
    await this.guard(this.inner.delete(key));
    this.evict(key);
  }

  listByOwner(owner: string): Promise<SessionKey[]> {
    return this.inner.listByOwner(owner);
  }

  tryLock(name: string, ttlMs: number): Promise<HeldLock | undefined> {
    return this.inner.tryLock(name, ttlMs);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.subscribed = false;
    this.evictAll();
    try {
      await this.subscriber.quit();
    } catch {
      this.subscriber.disconnect();
    }
    await this.inner.close();
  }

  private remember(key: SessionKey, value: StoredSession | undefined): void {
    this.entries.delete(key);
    this.entries.set(key, { value, untilMs: this.now() + this.ttlMs });
    // A Map iterates in insertion order: the first key is the oldest read.
    if (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value as SessionKey);
  }

  private evict(key: SessionKey): void {
    this.entries.delete(key);
    const flight = this.inflight.get(key);
    if (flight !== undefined) {
      flight.stale = true;
      this.inflight.delete(key);
    }
  }

  private evictAll(): void {
    this.entries.clear();
    for (const flight of this.inflight.values()) flight.stale = true;
    this.inflight.clear();
  }

  /** A failed call means Redis is in trouble: drop everything so the outage shows rather than hides behind old reads. */
  private guard<T>(p: Promise<T>): Promise<T> {
    return p.catch((err: unknown) => {
      this.evictAll();
      throw err;
    });
  }
}
