import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { GatehouseError } from '../errors.js';
import { openRecord, ownerKeyOf, sealRecord, type Keyring } from './crypto.js';
import { endedSessions, grantHolderOf, resumedSession, type CreatedSession, type EndedSession, type GrantHolder, type ResumedSession, type SessionManager, type SessionManagerDeps } from './manager.js';
import { isRefreshDue, rotateTokens, UnsavedRotations, usableAfterFailedRefresh, type RefreshOps, type SessionTokens } from './refresh.js';
import { CookieSealer } from './sealed-cookie.js';
import { assertWithinTimeouts, isWithinTimeouts, parseSessionData, secondsToAbsoluteEnd, summarize, type SessionData, type SessionSummary } from './session.js';
import { SessionIndex, type IndexedSession } from './session-index.js';
import type { StoredSession } from './store.js';

const NO_COOKIES: readonly string[] = Object.freeze([]);

export interface StatelessOptions extends SessionManagerDeps {
  /** Base cookie name; chunks are `<name>.0`, `<name>.1`, … Default `__Host-gh_s`. */
  readonly cookieName?: string;
  /** Most cookies one session may span. Default 3 (see `SealedCookieOptions.maxChunks`). */
  readonly maxChunks?: number;
  /**
   * How long a refresh result stays readable under the old refresh token, for
   * requests (and instances) still holding the previous cookie. Default: as
   * long as such a cookie can still be used (see `resultSeconds`).
   */
  readonly refreshResultSeconds?: number;
  /** Most sessions per user; a login beyond it ends the user's oldest. Default 100. */
  readonly maxSessionsPerUser?: number;
  /**
   * Most live logout markers per user. Ending one more session collapses them
   * into the user's cutoff, which ends all the user's sessions created until
   * then (see `end`). Default 100.
   */
  readonly maxMarkersPerUser?: number;
}

/** A user's "end all other sessions" cutoff: sessions created at or before `before` are ended, except `keep` (a handle, or ''). */
interface Cutoff {
  readonly before: number;
  readonly keep: string;
}

/**
 * Stateless sessions: everything lives in a sealed cookie, so no store read is
 * needed to find a session. The store still holds a few small things: a logout
 * marker per ended session and a per-user "end all other sessions" cutoff
 * (checked on every request, so a copied cookie stops working at once), the
 * result of each refresh keyed by the hash of the refresh token it replaced (so
 * concurrent requests carrying the old cookie, on any instance, adopt the
 * rotated tokens instead of replaying the old refresh token), the refresh lock,
 * and a per-user index of sessions for listing and ending them (written at
 * login and with each re-sealed cookie, read only by the session endpoints).
 */
export class StatelessSessions implements SessionManager {
  readonly mode = 'stateless';
  private readonly sealer: CookieSealer;
  private readonly recordKeys: Keyring;
  private readonly resultSecondsOverride: number | undefined;
  private readonly unsaved: UnsavedRotations;
  private readonly index: SessionIndex;
  private readonly maxMarkers: number;
  /** Store keys of a session's markers, per (immutable) session object: see markerKeys. */
  private readonly markers = new WeakMap<SessionData, { readonly ended: string; readonly cutoff: string }>();

  constructor(private readonly deps: StatelessOptions) {
    this.sealer = new CookieSealer({
      keyring: deps.keyring.derive('sealed-cookie'),
      name: deps.cookieName ?? '__Host-gh_s',
      maxChunks: deps.maxChunks ?? 3,
      attributes: deps.cookieAttributes,
      cacheEntries: 10_000,
    });
    this.recordKeys = deps.keyring.derive('refresh-result');
    this.resultSecondsOverride = deps.refreshResultSeconds;
    this.unsaved = new UnsavedRotations(deps.now, deps.timeouts.idleSeconds * 1000);
    this.index = new SessionIndex({
      store: deps.store,
      keyring: deps.keyring.derive('session-index'),
      timeouts: deps.timeouts,
      now: deps.now,
      maxPerUser: deps.maxSessionsPerUser ?? 100,
    });
    this.maxMarkers = deps.maxMarkersPerUser ?? 100;
  }

  isSessionCookie(name: string): boolean {
    return this.sealer.isOwnCookie(name);
  }

  async create(data: SessionData, cookies: ReadonlyMap<string, string>): Promise<CreatedSession> {
    // Any session the browser presented ends here; the new seal replaces its cookies. Not revoked: the
    // same browser most likely signed in through the same provider session, and so to the same grant.
    const collapsed = (await this.endPresented(cookies, data).catch(() => undefined))?.others ?? [];
    const setCookies = await this.sealer.seal(data, this.deps.timeouts.absoluteSeconds, cookies);
    await this.index.put(data);
    const { beyond, within } = await this.index.overflow(data);
    const ending = new Map(collapsed.map((s) => [s.handle, s]));
    for (const old of beyond) {
      ending.set(old.handle, old);
      for (const s of await this.end(data, old, data)) ending.set(s.handle, s);
    }
    if (ending.size === 0) return { setCookies, ended: [] };
    // Under the bound nothing is listed, and only a collapse ends sessions: it keeps the new one alone.
    const remaining: GrantHolder[] = within.length > 0 ? within.filter((s) => !ending.has(s.handle)) : [grantHolderOf(data)];
    return { setCookies, ended: endedSessions([...ending.values()], remaining) };
  }

  async resume(cookies: ReadonlyMap<string, string>): Promise<ResumedSession | undefined> {
    const opened = await this.sealer.open(cookies);
    if (opened === undefined) return undefined;
    const sealed = parseSessionData(opened);
    const now = this.deps.now();
    assertWithinTimeouts(sealed, this.deps.timeouts, now);
    if (await this.isEnded(sealed)) throw new GatehouseError('GH_SESSION_EXPIRED', 'session ended');
    let data: SessionData;
    let refreshFailure: unknown;
    try {
      data = await this.deps.coordinator.ensureFresh(sealed.handle, sealed, this.refreshOps(sealed));
    } catch (err) {
      // The clock after the failure: a refresh can wait out a timeout or a lock first.
      if (!usableAfterFailedRefresh(err, sealed.tokens, this.deps.now())) throw err;
      data = sealed;
      refreshFailure = err;
    }
    const touch = now - data.lastSeenAt >= this.deps.touchIntervalSeconds * 1000;
    if (data === sealed && !touch) return resumedSession(data, NO_COOKIES, refreshFailure);
    // A touch alone re-seals the tokens this cookie brought. A concurrent request of the session may
    // have rotated them already; if this answer reached the browser last, it would put the consumed
    // refresh token back. One store read, at most once per touchInterval.
    if (data === sealed) data = await this.adoptStoredRotation(sealed);
    const next = touch ? { ...data, lastSeenAt: now } : data;
    const setCookies = await this.reseal(next, cookies);
    // A write, no read: the listed lastSeenAt moves with the cookie's, every touchInterval.
    await this.index.put(next);
    return resumedSession(next, setCookies, refreshFailure);
  }

  /** The session's cookies again; one that grew too large to seal (refreshed tokens) ends, rather than reach the browser unreadable. */
  private async reseal(data: SessionData, cookies: ReadonlyMap<string, string>): Promise<string[]> {
    try {
      // The cookie lives to the session's absolute end, counted from its login, not from this re-seal.
      return await this.sealer.seal(data, secondsToAbsoluteEnd(data, this.deps.timeouts, this.deps.now()), cookies);
    } catch (err) {
      if (err instanceof GatehouseError && err.code === 'GH_LOGIN_FAILED') throw new GatehouseError('GH_SESSION_EXPIRED', 'the refreshed session is too large for stateless cookies', { cause: err });
      throw err;
    }
  }

  resumeSync(cookies: ReadonlyMap<string, string>): ResumedSession | undefined {
    const { store } = this.deps;
    if (store.peek === undefined) return undefined;
    const opened = this.sealer.openCached(cookies);
    if (opened === undefined) return undefined;
    let data: SessionData;
    try {
      data = parseSessionData(opened);
    } catch {
      return undefined; // resume judges it, and clears the cookies
    }
    const now = this.deps.now();
    if (!isWithinTimeouts(data, this.deps.timeouts, now)) return undefined;
    // Neither a logout marker nor an "end other sessions" cutoff: a cutoff is rare, and judged by resume.
    const keys = this.markerKeys(data);
    if (store.peek(keys.ended) !== undefined) return undefined;
    if (store.peek(keys.cutoff) !== undefined) return undefined;
    if (isRefreshDue(data.tokens, this.deps.skewSeconds, now)) return undefined;
    if (now - data.lastSeenAt >= this.deps.touchIntervalSeconds * 1000) return undefined;
    return { data, setCookies: NO_COOKIES };
  }

  async destroy(cookies: ReadonlyMap<string, string>): Promise<SessionData | undefined> {
    return (await this.endPresented(cookies))?.data;
  }

  async carriedSession(cookies: ReadonlyMap<string, string>): Promise<SessionData | undefined> {
    try {
      const opened = await this.sealer.open(cookies);
      return opened === undefined ? undefined : parseSessionData(opened);
    } catch {
      return undefined; // unreadable: it carries nothing to revoke
    }
  }

  /**
   * Ends the session the cookies carry; `keep` (a login in progress) survives a collapse into the cutoff.
   * Resolves to it, and to the listed sessions a collapse ended with it (`others`).
   */
  private async endPresented(cookies: ReadonlyMap<string, string>, keep?: SessionData): Promise<{ data: SessionData; others: IndexedSession[] } | undefined> {
    // An unreadable cookie is cleared, and has nothing to end.
    const data = await this.carriedSession(cookies);
    if (data === undefined) return undefined;
    return { data, others: await this.end(data, data, keep) };
  }

  async list(current: SessionData): Promise<SessionSummary[]> {
    const listed: IndexedSession[] = (await this.liveIndexed(current)).filter((s) => s.handle !== current.handle);
    // The current session as its cookie has it (fresher), listed even if the index lost it.
    listed.push(current);
    return listed.sort((a, b) => a.createdAt - b.createdAt).map((s) => summarize(s, current.handle));
  }

  async destroyHandle(current: SessionData, handle: string): Promise<EndedSession[] | undefined> {
    const isCurrent = handle === current.handle;
    const target = isCurrent ? current : await this.index.get(current, handle);
    if (target === undefined) return undefined;
    // Read before the ending: the sessions that live on, unless a collapse ends them too.
    const listed = (await this.liveIndexed(current)).filter((s) => s.handle !== handle && s.handle !== current.handle);
    const collapsed = (await this.end(current, target, isCurrent ? undefined : current)).filter((s) => s.handle !== handle);
    const gone = new Set(collapsed.map((s) => s.handle));
    const remaining: GrantHolder[] = [...listed.filter((s) => !gone.has(s.handle)), ...(isCurrent ? [] : [grantHolderOf(current)])];
    return endedSessions([isCurrent ? grantHolderOf(current) : (target as IndexedSession), ...collapsed], remaining);
  }

  /**
   * Ends every other session of the user by a cutoff: sessions created before
   * now, except the current one, are ended, listed or not (a session missing
   * from the index, e.g. evicted from a full memory store, ends too but is not
   * counted, nor its refresh token revoked). Resolves to the listed sessions it ended.
   */
  async destroyOthers(current: SessionData): Promise<EndedSession[]> {
    const others = (await this.liveIndexed(current)).filter((s) => s.handle !== current.handle);
    await this.raiseCutoff(current, this.deps.now(), current);
    await Promise.all(others.map((s) => this.index.delete(s.handle)));
    return endedSessions(others, [grantHolderOf(current)]);
  }

  clearCookies(cookies?: ReadonlyMap<string, string>): string[] {
    return this.sealer.clear(cookies);
  }

  async close(): Promise<void> {
    await this.deps.store.close();
  }

  private refreshOps(sealed: SessionData): RefreshOps<SessionData> {
    const isDue = (t: SessionTokens) => isRefreshDue(t, this.deps.skewSeconds, this.deps.now());
    const needsRefresh = (s: SessionData) => isDue(s.tokens);
    // Follows the chain of refresh results from the cookie's refresh token to the newest.
    const reload = async (): Promise<SessionData | undefined> => {
      // Under the refresh lock: past any local cache, another instance may just have rotated.
      if (await this.isEnded(sealed, true)) return undefined;
      let cur = sealed;
      for (let hops = 0; hops < 10 && needsRefresh(cur) && cur.tokens.refreshToken; hops++) {
        const tokens = await this.storedRotation(cur.tokens.refreshToken, true);
        if (!tokens) break;
        cur = { ...cur, tokens };
      }
      return cur;
    };
    return {
      needsRefresh,
      reload,
      refresh: async (s) => {
        const old = s.tokens;
        if (!old.refreshToken) throw new GatehouseError('GH_SESSION_EXPIRED', 'access token expired and the session has no refresh token');
        const key = this.resultKey(old.refreshToken);
        const tokens = await rotateTokens(old, this.unsaved.get(key, old.refreshToken), this.deps.grant, isDue);
        try {
          await this.deps.store.put(key, { data: sealRecord(this.recordKeys, key, JSON.stringify(tokens)), version: 1 }, this.resultSeconds(s));
        } catch (err) {
          // Store down after the provider rotated: the next try uses these, never replays the old token.
          this.unsaved.keep(key, old.refreshToken, tokens);
          throw err;
        }
        this.unsaved.forget(key);
        return { ...s, tokens };
      },
      end: async () => {
        await this.end(sealed, sealed);
      },
      tokens: (s) => s.tokens,
      hasUnsavedRotation: (s) => {
        const refreshToken = s.tokens.refreshToken;
        const kept = refreshToken === undefined ? undefined : this.unsaved.get(this.resultKey(refreshToken), refreshToken);
        return kept !== undefined && !isDue(kept);
      },
    };
  }

  /**
   * How long the result of refreshing `s` is kept under its old refresh token: as long as a
   * cookie holding that token can still be used. A request that only touched the session while
   * another refreshed it re-seals the old tokens, and its answer may reach the browser last; that
   * cookie lives an idle timeout from the touch (plus a touchInterval of margin for a touch
   * judged a little later, by another instance's clock), never past the absolute end. Its next
   * request then adopts the rotated tokens instead of replaying a consumed refresh token, which
   * reuse detection would answer by ending the grant, and with it every copy of the session.
   * Bounded like every entry: the store's ttl, and the memory store's maxEntries.
   */
  private resultSeconds(s: SessionData): number {
    if (this.resultSecondsOverride !== undefined) return this.resultSecondsOverride;
    const { idleSeconds } = this.deps.timeouts;
    return Math.min(Math.ceil(idleSeconds + this.deps.touchIntervalSeconds), secondsToAbsoluteEnd(s, this.deps.timeouts, this.deps.now()));
  }

  /** The tokens a refresh of `refreshToken` stored (see `resultSeconds`), if any. */
  private async storedRotation(refreshToken: string, fresh: boolean): Promise<SessionTokens | undefined> {
    const key = this.resultKey(refreshToken);
    const entry = await this.deps.store.get(key, fresh ? { fresh } : undefined);
    return entry === undefined ? undefined : (JSON.parse(openRecord(this.recordKeys, key, entry.data)) as SessionTokens);
  }

  /**
   * `s` with the newest tokens refreshes of its refresh token stored, when there are newer ones
   * (a provider that does not rotate keeps one entry, rewritten: followed once).
   */
  private async adoptStoredRotation(s: SessionData): Promise<SessionData> {
    let cur = s;
    for (let hops = 0; hops < 10 && cur.tokens.refreshToken !== undefined; hops++) {
      const tokens = await this.storedRotation(cur.tokens.refreshToken, false);
      if (tokens === undefined || tokens.accessTokenExpiresAt <= cur.tokens.accessTokenExpiresAt) break;
      const rotated = tokens.refreshToken !== cur.tokens.refreshToken;
      cur = { ...cur, tokens };
      if (!rotated) break;
    }
    return cur;
  }

  /**
   * Ends a session of `user`: its logout marker (the cookie stops working) lives
   * to its absolute end; it leaves the list. Markers are pinned, so one user
   * looping login and logout would fill a memory store (every write then 503)
   * or grow Redis without bound: past `maxMarkers` live markers, the user's
   * cutoff is raised to now instead, which ends every session of theirs created
   * until now (on every device, but `keep`), and the markers it subsumes go.
   * Resolves to the listed sessions other than `s` that a collapse ended (none without one).
   */
  private async end(user: Pick<SessionData, 'issuer' | 'subject'>, s: Pick<SessionData, 'handle' | 'createdAt'>, keep?: Pick<SessionData, 'handle' | 'createdAt'>): Promise<IndexedSession[]> {
    const { store } = this.deps;
    const owner = this.markerOwner(user);
    const markers = await store.listByOwner(owner);
    if (markers.length < this.maxMarkers) {
      // The session's createdAt: a collapse removes only the markers its cutoff covers.
      await store.put(this.endedKey(s.handle), { data: String(s.createdAt), owner, version: 1, pinned: true }, secondsToAbsoluteEnd(s, this.deps.timeouts, this.deps.now()));
      await this.index.delete(s.handle);
      return [];
    }
    const cutoff = await this.raiseCutoff(user, s.createdAt, keep);
    // Only once the cutoff is stored: until then these markers are what ends their sessions.
    const ended = await Promise.all(markers.map((k) => store.get(k)));
    const subsumed = markers.filter((k, i) => k !== this.endedKey(cutoff.keep) && Number(ended[i]?.data) <= cutoff.before);
    const listed = (await this.index.list(user)).filter((l) => endsSession(cutoff, l));
    await Promise.all([...subsumed.map((k) => store.delete(k)), ...listed.map((l) => this.index.delete(l.handle))]);
    return listed.filter((l) => l.handle !== s.handle);
  }

  /**
   * Raises the user's cutoff to now (at least `atLeast`, a creation time that
   * another instance's clock may have put ahead), keeping `keep` unless the
   * cutoff already ends it. Never lowers it: read and written under a lock, so
   * concurrent raises on any instance cannot undo one another, and pinned.
   */
  private async raiseCutoff(user: Pick<SessionData, 'issuer' | 'subject'>, atLeast: number, keep?: Pick<SessionData, 'handle' | 'createdAt'>): Promise<Cutoff> {
    const { store } = this.deps;
    const key = this.cutoffKey(user);
    for (let attempt = 0; attempt < 50; attempt++) {
      const lock = await store.tryLock(key, 5000);
      if (lock === undefined) {
        await sleep(20);
        continue;
      }
      try {
        const cur = parseCutoff(await store.get(key, { fresh: true }));
        const next: Cutoff = { before: Math.max(this.deps.now(), atLeast, cur?.before ?? 0), keep: keep && !endsSession(cur, keep) ? keep.handle : '' };
        await store.put(key, { data: JSON.stringify(next), version: 1, pinned: true }, secondsToAbsoluteEnd({ createdAt: next.before }, this.deps.timeouts, this.deps.now()));
        return next;
      } finally {
        await lock.release();
      }
    }
    throw new GatehouseError('GH_SESSION_STORE_UNAVAILABLE', 'the user\'s session cutoff is locked');
  }

  /** Logged out, or ended by "end all other sessions" from another session of the user. */
  private async isEnded(data: SessionData, fresh = false): Promise<boolean> {
    const opts = fresh ? { fresh } : undefined;
    const keys = this.markerKeys(data);
    const [ended, cutoff] = await Promise.all([this.deps.store.get(keys.ended, opts), this.deps.store.get(keys.cutoff, opts)]);
    return ended !== undefined || endsSession(parseCutoff(cutoff), data);
  }

  /** The user's indexed sessions, without those ended meanwhile (an ending racing a re-seal can leave an entry). */
  private async liveIndexed(current: SessionData): Promise<IndexedSession[]> {
    const [indexed, cutoff] = await Promise.all([this.index.list(current), this.deps.store.get(this.cutoffKey(current))]);
    const ended = await Promise.all(indexed.map((s) => this.deps.store.get(this.endedKey(s.handle))));
    const c = parseCutoff(cutoff);
    return indexed.filter((s, i) => ended[i] === undefined && !endsSession(c, s));
  }

  private cutoffKey(user: Pick<SessionData, 'issuer' | 'subject'>): string {
    return `cutoff:${ownerKeyOf(user.issuer, user.subject)}`;
  }

  /** The store owner of a user's logout markers: apart from the session list's owner, so markers are counted on their own. */
  private markerOwner(user: Pick<SessionData, 'issuer' | 'subject'>): string {
    return `ended:${ownerKeyOf(user.issuer, user.subject)}`;
  }

  /**
   * The sealer hands back the same object while the cookie is unchanged, so the
   * keys are built (and hashed) once per session, not on every request.
   */
  private markerKeys(data: SessionData): { readonly ended: string; readonly cutoff: string } {
    let keys = this.markers.get(data);
    if (keys === undefined) {
      keys = { ended: this.endedKey(data.handle), cutoff: this.cutoffKey(data) };
      this.markers.set(data, keys);
    }
    return keys;
  }

  private endedKey(handle: string): string {
    return `ended:${handle}`;
  }

  private resultKey(refreshToken: string): string {
    return `rr:${createHash('sha256').update(refreshToken).digest('base64url')}`;
  }
}

function parseCutoff(entry: StoredSession | undefined): Cutoff | undefined {
  return entry === undefined ? undefined : (JSON.parse(entry.data) as Cutoff);
}

/** True when the user's cutoff ends this session. */
function endsSession(c: Cutoff | undefined, s: Pick<SessionData, 'handle' | 'createdAt'>): boolean {
  return c !== undefined && s.createdAt <= c.before && s.handle !== c.keep;
}
