import { openRecord, ownerKeyOf, sealRecord, type Keyring } from './crypto.js';
import { providerSessionOf, remainingSeconds, type SessionData, type SessionTimeouts } from './session.js';
import type { Clock, SessionStore } from './store.js';

/**
 * What the index keeps about one session: enough to list it, and its refresh
 * token as of its cookie's last seal, so ending it from another device can
 * revoke it at the provider (the cookie itself may never come back), with the
 * provider session it came from (`sid`), which says whether that is safe
 * (`endedSessions`). Entries written before either was kept have none.
 */
export type IndexedSession = Pick<SessionData, 'handle' | 'createdAt' | 'lastSeenAt' | 'userAgent'> & { readonly refreshToken?: string; readonly sid?: string };

export interface SessionIndexOptions {
  readonly store: SessionStore;
  /** Subkey the entries are sealed under. */
  readonly keyring: Keyring;
  readonly timeouts: SessionTimeouts;
  readonly now: Clock;
  /** Most sessions listed per user; see {@link SessionIndex.overflow}. */
  readonly maxPerUser: number;
}

const PREFIX = 'idx:';

/**
 * A per-user list of stateless sessions, so they can be listed and ended by
 * handle although the sessions themselves live in cookies. Entries sit under
 * `idx:<handle>` with the store's owner index (a hash of issuer and subject, as
 * stateful sessions), sealed like any store record (the refresh token inside,
 * as stateful records and stateless refresh results hold theirs): a dump shows
 * handles and owner hashes, no token, no cookie value, no user agent. An entry lives as
 * long as its session could (to the idle or the absolute end, whichever comes
 * first) and is rewritten whenever the session's cookie is, so `lastSeenAt` is
 * as precise as the cookie's (`touchInterval`).
 */
export class SessionIndex {
  constructor(private readonly o: SessionIndexOptions) {}

  /** Writes (or rewrites) the session's entry. */
  async put(data: SessionData): Promise<void> {
    const key = PREFIX + data.handle;
    const owner = ownerKeyOf(data.issuer, data.subject);
    const sid = providerSessionOf(data);
    const entry: IndexedSession & { owner: string } = {
      handle: data.handle,
      createdAt: data.createdAt,
      lastSeenAt: data.lastSeenAt,
      userAgent: data.userAgent,
      ...(data.tokens.refreshToken !== undefined ? { refreshToken: data.tokens.refreshToken } : {}),
      ...(sid !== undefined ? { sid } : {}),
      owner,
    };
    const sealed = sealRecord(this.o.keyring, key, JSON.stringify(entry));
    await this.o.store.put(key, { data: sealed, owner, version: 1 }, remainingSeconds(data, this.o.timeouts, this.o.now()));
  }

  /** The owner's entry for `handle`; undefined when there is none, or it is someone else's. */
  async get(owner: Pick<SessionData, 'issuer' | 'subject'>, handle: string): Promise<IndexedSession | undefined> {
    return this.open(PREFIX + handle, ownerKeyOf(owner.issuer, owner.subject));
  }

  /** The owner's indexed sessions, oldest first. */
  async list(owner: Pick<SessionData, 'issuer' | 'subject'>): Promise<IndexedSession[]> {
    const hash = ownerKeyOf(owner.issuer, owner.subject);
    const keys = (await this.o.store.listByOwner(hash)).filter((k) => k.startsWith(PREFIX));
    const found = await Promise.all(keys.map((k) => this.open(k, hash)));
    return found.filter((s) => s !== undefined).sort((a, b) => a.createdAt - b.createdAt);
  }

  /**
   * The owner's oldest sessions beyond `maxPerUser` (`beyond`), for the caller to
   * end (asked after a login): the list stays bounded and still shows every
   * session that works; `within`, the rest. One listing round trip, and both
   * empty, while under the bound.
   */
  async overflow(owner: Pick<SessionData, 'issuer' | 'subject'>): Promise<{ beyond: IndexedSession[]; within: IndexedSession[] }> {
    const keys = await this.o.store.listByOwner(ownerKeyOf(owner.issuer, owner.subject));
    if (keys.length <= this.o.maxPerUser) return { beyond: [], within: [] };
    const all = await this.list(owner);
    const cut = Math.max(0, all.length - this.o.maxPerUser);
    return { beyond: all.slice(0, cut), within: all.slice(cut) };
  }

  async delete(handle: string): Promise<void> {
    await this.o.store.delete(PREFIX + handle);
  }

  private async open(key: string, owner: string): Promise<IndexedSession | undefined> {
    const entry = await this.o.store.get(key);
    if (entry === undefined || entry.owner !== owner) return undefined;
    try {
      const s = JSON.parse(openRecord(this.o.keyring, key, entry.data)) as IndexedSession & { owner: string };
      // The store's owner field sits beside the ciphertext; the sealed one decides.
      if (s.owner !== owner) return undefined;
      return {
        handle: s.handle,
        createdAt: s.createdAt,
        lastSeenAt: s.lastSeenAt,
        userAgent: s.userAgent,
        ...(typeof s.refreshToken === 'string' ? { refreshToken: s.refreshToken } : {}),
        ...(typeof s.sid === 'string' ? { sid: s.sid } : {}),
      };
    } catch {
      return undefined; // sealed under a retired key, or not an index entry
    }
  }
}
