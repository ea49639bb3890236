import { GatehouseError } from '../errors.js';
import { BoundedMap } from './bounded-map.js';
import { clearCookie, serializeCookie } from './cookies.js';
import { isSessionIdShape, newSessionId, openRecord, ownerKeyOf, sealRecord, storeKeyOf, type Keyring } from './crypto.js';
import { endedSessions, grantHolderOf, resumedSession, type CreatedSession, type EndedSession, type ResumedSession, type SessionManager, type SessionManagerDeps } from './manager.js';
import { NOT_LOCAL } from './store.js';
import { isRefreshDue, rotateTokens, UnsavedRotations, usableAfterFailedRefresh, type RefreshOps, type SessionTokens } from './refresh.js';
import { assertWithinTimeouts, isWithinTimeouts, parseSessionData, remainingSeconds, summarize, type SessionData, type SessionSummary } from './session.js';

const NO_COOKIES: readonly string[] = Object.freeze([]);

interface Loaded {
  readonly data: SessionData;
  readonly version: number;
}

export interface StatefulOptions extends SessionManagerDeps {
  /** Default `__Host-gh_sid`. */
  readonly cookieName?: string;
  /** Decrypted sessions kept in memory, keyed by store key and checked against the stored ciphertext. Default 10000; 0 disables. */
  readonly openedCacheEntries?: number;
  /** Most sessions per user; a login beyond it ends the user's oldest. Default 100. */
  readonly maxSessionsPerUser?: number;
}

/**
 * Stateful sessions: the browser holds a random 256-bit id in one HttpOnly
 * `__Host-` cookie; the store holds the session encrypted, under the hash of
 * the id. Ending a session is deleting it, so a copied cookie stops working at
 * once.
 */
export class StatefulSessions implements SessionManager {
  readonly mode = 'stateful';
  readonly cookieName: string;
  private readonly keyring: Keyring;
  // Decrypting and parsing a record costs more than the rest of a request; a hit needs the
  // exact ciphertext the store holds now, so a write anywhere (another instance) is never missed.
  private readonly opened: BoundedMap<string, { readonly sealed: string; readonly data: SessionData }> | undefined;
  // Session id → store key, so a known cookie costs a Map lookup instead of a SHA-256. In process
  // memory only (like the opened sessions, which hold the tokens themselves); the store still sees hashes alone.
  private readonly storeKeys: BoundedMap<string, string> | undefined;
  private readonly unsaved: UnsavedRotations;
  private readonly maxPerUser: number;

  constructor(private readonly deps: StatefulOptions) {
    this.cookieName = deps.cookieName ?? '__Host-gh_sid';
    this.keyring = deps.keyring.derive('session-store');
    const max = deps.openedCacheEntries ?? 10_000;
    this.opened = max > 0 ? new BoundedMap(max) : undefined;
    this.storeKeys = max > 0 ? new BoundedMap(max) : undefined;
    this.unsaved = new UnsavedRotations(deps.now, deps.timeouts.idleSeconds * 1000);
    this.maxPerUser = deps.maxSessionsPerUser ?? 100;
  }

  isSessionCookie(name: string): boolean {
    return name === this.cookieName;
  }

  async create(data: SessionData, cookies: ReadonlyMap<string, string>): Promise<CreatedSession> {
    await this.destroy(cookies);
    const id = newSessionId();
    const key = storeKeyOf(id);
    const owner = ownerKeyOf(data.issuer, data.subject);
    await this.deps.store.put(key, { data: this.seal(key, data), owner, version: 1 }, remainingSeconds(data, this.deps.timeouts, this.deps.now()));
    const ended = await this.endOldest(data, key);
    // The cookie lives to the absolute end; the idle timeout is enforced here, not by the browser.
    return { setCookies: [serializeCookie(this.cookieName, id, { ...this.deps.cookieAttributes, maxAgeSeconds: this.deps.timeouts.absoluteSeconds })], ended };
  }

  async resume(cookies: ReadonlyMap<string, string>): Promise<ResumedSession | undefined> {
    const id = cookies.get(this.cookieName);
    if (id === undefined) return undefined;
    let key = this.storeKeys?.get(id);
    const known = key !== undefined;
    if (key === undefined) {
      if (!isSessionIdShape(id)) throw new GatehouseError('GH_SESSION_INVALID', 'session cookie is malformed');
      key = storeKeyOf(id);
    }
    let state = await this.load(key);
    if (!state) {
      if (known) this.storeKeys?.delete(id);
      throw new GatehouseError('GH_SESSION_EXPIRED', 'session not found or ended');
    }
    // Remembered only for sessions that exist, so junk ids cannot crowd out real ones.
    if (!known) this.storeKeys?.set(id, key);
    const now = this.deps.now();
    try {
      assertWithinTimeouts(state.data, this.deps.timeouts, now);
    } catch (err) {
      await this.deps.store.delete(key);
      throw err;
    }
    // The refresh machinery (and its closures) only when the token is due.
    let refreshFailure: unknown;
    if (isRefreshDue(state.data.tokens, this.deps.skewSeconds, now)) {
      try {
        state = await this.deps.coordinator.ensureFresh(key, state, this.refreshOps(key));
      } catch (err) {
        // The clock after the failure: a refresh can wait out a timeout or a lock first.
        if (!usableAfterFailedRefresh(err, state.data.tokens, this.deps.now())) throw err;
        refreshFailure = err;
      }
    }
    if (now - state.data.lastSeenAt >= this.deps.touchIntervalSeconds * 1000) {
      const touched = { ...state.data, lastSeenAt: now };
      // Losing this race only loses a lastSeenAt update; a rotation written meanwhile must win.
      await this.write(key, touched, state.version);
      state = { data: touched, version: state.version + 1 };
    }
    return resumedSession(state.data, NO_COOKIES, refreshFailure);
  }

  resumeSync(cookies: ReadonlyMap<string, string>): ResumedSession | undefined {
    const { store } = this.deps;
    if (store.peek === undefined) return undefined;
    const id = cookies.get(this.cookieName);
    const key = id === undefined ? undefined : this.storeKeys?.get(id);
    if (key === undefined) return undefined;
    const entry = store.peek(key);
    if (entry === undefined || entry === NOT_LOCAL) return undefined;
    // Only the ciphertext the store holds now: a write from anywhere changes it.
    const hit = this.opened?.get(key);
    if (hit === undefined || hit.sealed !== entry.data) return undefined;
    const data = hit.data;
    const now = this.deps.now();
    if (!isWithinTimeouts(data, this.deps.timeouts, now)) return undefined;
    if (isRefreshDue(data.tokens, this.deps.skewSeconds, now)) return undefined;
    if (now - data.lastSeenAt >= this.deps.touchIntervalSeconds * 1000) return undefined;
    return { data, setCookies: NO_COOKIES };
  }

  async destroy(cookies: ReadonlyMap<string, string>): Promise<SessionData | undefined> {
    const id = cookies.get(this.cookieName);
    if (id === undefined || !isSessionIdShape(id)) return undefined;
    const key = storeKeyOf(id);
    this.storeKeys?.delete(id);
    const state = await this.load(key).catch((err: unknown) => {
      if (err instanceof GatehouseError && err.code === 'GH_SESSION_INVALID') return undefined;
      throw err;
    });
    await this.deps.store.delete(key);
    this.opened?.delete(key);
    return state?.data;
  }

  // The cookie is only an id: the session is in the store.
  carriedSession(): Promise<SessionData | undefined> {
    return Promise.resolve(undefined);
  }

  async list(current: SessionData): Promise<SessionSummary[]> {
    const out: SessionSummary[] = [];
    for (const { data } of await this.sessionsOf(current)) out.push(summarize(data, current.handle));
    return out.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  async destroyHandle(current: SessionData, handle: string): Promise<EndedSession[] | undefined> {
    const all = await this.sessionsOf(current);
    const target = all.find((s) => s.data.handle === handle);
    if (target === undefined) return undefined;
    await this.deps.store.delete(target.key);
    return endedSessions([grantHolderOf(target.data)], all.filter((s) => s !== target).map((s) => grantHolderOf(s.data)));
  }

  async destroyOthers(current: SessionData): Promise<EndedSession[]> {
    const others = (await this.sessionsOf(current)).filter((s) => s.data.handle !== current.handle);
    for (const s of others) await this.deps.store.delete(s.key);
    return endedSessions(others.map((s) => grantHolderOf(s.data)), [grantHolderOf(current)]);
  }

  clearCookies(cookies?: ReadonlyMap<string, string>): string[] {
    if (cookies && !cookies.has(this.cookieName)) return [];
    return [clearCookie(this.cookieName, this.deps.cookieAttributes)];
  }

  async close(): Promise<void> {
    await this.deps.store.close();
  }

  private refreshOps(key: string): RefreshOps<Loaded> {
    const isDue = (t: SessionTokens) => isRefreshDue(t, this.deps.skewSeconds, this.deps.now());
    return {
      needsRefresh: (s) => isDue(s.data.tokens),
      tokens: (s) => s.data.tokens,
      // Under the refresh lock: past any local cache, another instance may just have rotated.
      reload: () => this.load(key, true),
      refresh: async (s) => {
        const old = s.data.tokens;
        const tokens = await rotateTokens(old, this.unsaved.get(key, old.refreshToken), this.deps.grant, isDue);
        // The provider has rotated: the new refresh token must reach the store even if a
        // concurrent touch bumped the version, so retry on top of the latest state.
        let cur: Loaded | undefined = s;
        try {
          for (let i = 0; i < 5 && cur; i++) {
            const next = { ...cur.data, tokens };
            if (await this.write(key, next, cur.version)) {
              this.unsaved.forget(key);
              return { data: next, version: cur.version + 1 };
            }
            cur = await this.load(key, true);
          }
          if (cur) throw new GatehouseError('GH_SESSION_STORE_UNAVAILABLE', 'could not store the refreshed session');
        } catch (err) {
          // Store down after the provider rotated: the next try stores these, never replays the old token.
          this.unsaved.keep(key, old.refreshToken as string, tokens);
          throw err;
        }
        throw new GatehouseError('GH_SESSION_EXPIRED', 'session ended during refresh');
      },
      end: () => this.deps.store.delete(key),
      hasUnsavedRotation: (s) => {
        const kept = this.unsaved.get(key, s.data.tokens.refreshToken);
        return kept !== undefined && !isDue(kept);
      },
    };
  }

  /**
   * Past `maxPerUser` sessions, a login ends the user's oldest: one user's
   * logins cannot fill a bounded store and so evict everyone else's sessions.
   * Resolves to those it ended.
   */
  private async endOldest(data: SessionData, newest: string): Promise<EndedSession[]> {
    const keys = await this.deps.store.listByOwner(ownerKeyOf(data.issuer, data.subject));
    if (keys.length <= this.maxPerUser) return [];
    const others = (await this.sessionsOf(data)).filter((s) => s.key !== newest).sort((a, b) => a.data.createdAt - b.data.createdAt);
    const oldest = others.slice(0, Math.max(0, others.length + 1 - this.maxPerUser));
    for (const s of oldest) {
      await this.deps.store.delete(s.key);
      this.opened?.delete(s.key);
    }
    const kept = [data, ...others.slice(oldest.length).map((s) => s.data)];
    return endedSessions(oldest.map((s) => grantHolderOf(s.data)), kept.map(grantHolderOf));
  }

  private async write(key: string, data: SessionData, expectedVersion: number): Promise<boolean> {
    const ttl = remainingSeconds(data, this.deps.timeouts, this.deps.now());
    const owner = ownerKeyOf(data.issuer, data.subject);
    const sealed = this.seal(key, data);
    const done = await this.deps.store.replace(key, { data: sealed, owner, version: expectedVersion + 1 }, Math.max(1, ttl), expectedVersion);
    if (done) this.opened?.set(key, { sealed, data });
    return done;
  }

  private async load(key: string, fresh = false): Promise<Loaded | undefined> {
    const entry = await this.deps.store.get(key, fresh ? { fresh } : undefined);
    if (!entry) return undefined;
    const hit = this.opened?.get(key);
    if (hit !== undefined && hit.sealed === entry.data) return { data: hit.data, version: entry.version };
    const data = parseSessionData(openRecord(this.keyring, key, entry.data));
    this.opened?.set(key, { sealed: entry.data, data });
    return { data, version: entry.version };
  }

  private async sessionsOf(current: SessionData): Promise<{ key: string; data: SessionData }[]> {
    const keys = await this.deps.store.listByOwner(ownerKeyOf(current.issuer, current.subject));
    const out: { key: string; data: SessionData }[] = [];
    for (const key of keys.slice(0, 1000)) {
      const s = await this.load(key).catch(() => undefined);
      // The owner index is a hash; check the decrypted owner too.
      if (s && s.data.issuer === current.issuer && s.data.subject === current.subject) out.push({ key, data: s.data });
    }
    return out;
  }

  private seal(key: string, data: SessionData): string {
    return sealRecord(this.keyring, key, JSON.stringify(data));
  }
}
