/**
 * The session store: a small async interface with two implementations (memory
 * and Redis) that pass one contract suite (`store-contract.ts`).
 *
 * The store never sees a session id or a token. It is keyed by a hash of the
 * session id and holds ciphertext (see `crypto.ts`), so a dump of the store
 * yields neither a usable cookie nor readable tokens. The few fields it must act
 * on (owner for the per-user index, version for compare-and-set) sit beside the
 * ciphertext.
 */

/** Store key: a hash of the session id (never the id itself). */
export type SessionKey = string;

/** What a caller writes. */
export interface SessionEntry {
  /** Encrypted, authenticated record; opaque to the store. */
  readonly data: string;
  /**
   * Index key of the session's owner (a hash of issuer and subject), so a user's
   * sessions can be listed and ended. Absent: the entry is not indexed.
   */
  readonly owner?: string;
  /** Incremented by the caller on every write; `replace` compares it. */
  readonly version: number;
  /**
   * A revocation record (a stateless session's logout marker or cutoff): losing it
   * before it expires would bring an ended session back. A bounded store never
   * evicts such an entry to make room; it refuses the write when full of them
   * (GH_SESSION_STORE_UNAVAILABLE). Redis evicts nothing under its `noeviction`
   * policy, which the Redis store therefore expects (see docs/sessions.md).
   */
  readonly pinned?: boolean;
}

/** What the store returns: the entry plus its expiry. */
export interface StoredSession extends SessionEntry {
  /** Epoch milliseconds (store clock) after which the entry is gone. */
  readonly expiresAtMs: number;
}

export interface GetOptions {
  /** Bypass any local cache. */
  readonly fresh?: boolean;
}

/** A lock taken with {@link SessionStore.tryLock}. */
export interface HeldLock {
  /** Releases it; a no-op when it already expired and someone else holds it. */
  release(): Promise<void>;
  /** Makes it last `ttlMs` from now; resolves to false when it is no longer this holder's (it expired, perhaps taken since). */
  extend(ttlMs: number): Promise<boolean>;
}

/** {@link SessionStore.peek}'s answer when only the shared store can tell. */
export const NOT_LOCAL: unique symbol = Symbol('not answered locally');

export interface SessionStore {
  /**
   * The answer `get` would give, synchronously, when the store holds it in
   * process (the memory store always, the Redis store's read cache on a hit);
   * {@link NOT_LOCAL} when only a round trip can tell. Optional: a store
   * without it is always asked with `get`.
   */
  peek?(key: SessionKey): StoredSession | undefined | typeof NOT_LOCAL;
  /**
   * The live entry, or undefined when absent or expired. With `fresh`, a store
   * that keeps a local read cache asks the shared store itself (the re-read
   * under the refresh lock must see the latest rotation).
   */
  get(key: SessionKey, opts?: GetOptions): Promise<StoredSession | undefined>;
  /** Writes the entry unconditionally, living `ttlSeconds` from now. */
  put(key: SessionKey, entry: SessionEntry, ttlSeconds: number): Promise<void>;
  /**
   * Compare-and-set: writes only when the live entry's version equals
   * `expectedVersion`. Resolves to false when it changed or is gone, so a
   * concurrent writer (a refresh on another instance) never loses its rotation.
   */
  replace(key: SessionKey, entry: SessionEntry, ttlSeconds: number, expectedVersion: number): Promise<boolean>;
  /** Removes the entry and its index membership; a no-op when absent. */
  delete(key: SessionKey): Promise<void>;
  /** Keys of the owner's live sessions (any order). */
  listByOwner(owner: string): Promise<SessionKey[]>;
  /**
   * Takes an exclusive lock named `name` for at most `ttlMs` (unless extended).
   * Resolves to the held lock, or undefined if another holder has it.
   */
  tryLock(name: string, ttlMs: number): Promise<HeldLock | undefined>;
  /** Frees connections and timers. */
  close(): Promise<void>;
}

/** Injected time source in epoch milliseconds, so expiry is testable without sleeping. */
export type Clock = () => number;

export const systemClock: Clock = () => Date.now();
