import { setTimeout as sleep } from 'node:timers/promises';
import { GatehouseError } from '../errors.js';
import { BoundedMap } from './bounded-map.js';
import { isClientRejected } from './provider-error.js';
import type { Clock, HeldLock, SessionStore } from './store.js';

/** Tokens a session holds. Times are epoch seconds. */
export interface SessionTokens {
  readonly accessToken: string;
  readonly accessTokenExpiresAt: number;
  /**
   * When the gateway received the access token (its clock): with the expiry,
   * the token's lifetime, which bounds the refresh skew. Absent in sessions
   * stored before it was recorded.
   */
  readonly accessTokenIssuedAt?: number;
  readonly refreshToken?: string;
  readonly idToken?: string;
  readonly scope?: string;
}

/**
 * Calls the provider's token endpoint with a refresh token. Must throw
 * GatehouseError GH_SESSION_EXPIRED when the provider refuses the grant
 * (revoked, expired, reused: the session is over) and GH_PROVIDER_UNAVAILABLE
 * when it cannot be reached or fails (network, 5xx, timeout: the session is
 * kept). After a timeout the provider may have rotated the token all the same:
 * the next grant then replays a consumed token, and is refused.
 */
export type RefreshGrant = (refreshToken: string) => Promise<SessionTokens>;

/** The new tokens over the old: a provider that does not rotate keeps the old refresh token valid. */
export function mergeTokens(old: SessionTokens, fresh: SessionTokens): SessionTokens {
  return {
    accessToken: fresh.accessToken,
    accessTokenExpiresAt: fresh.accessTokenExpiresAt,
    // The issue time belongs to the access token: never the old one's.
    ...(fresh.accessTokenIssuedAt !== undefined ? { accessTokenIssuedAt: fresh.accessTokenIssuedAt } : {}),
    ...((fresh.refreshToken ?? old.refreshToken) !== undefined ? { refreshToken: fresh.refreshToken ?? old.refreshToken } : {}),
    ...((fresh.idToken ?? old.idToken) !== undefined ? { idToken: fresh.idToken ?? old.idToken } : {}),
    ...((fresh.scope ?? old.scope) !== undefined ? { scope: fresh.scope ?? old.scope } : {}),
  };
}

/**
 * Tokens to replace `old` with: a rotation kept from an earlier refresh whose
 * store write failed (still unexpired), else the result of a grant with the
 * newest refresh token at hand.
 */
export async function rotateTokens(old: SessionTokens, kept: SessionTokens | undefined, grant: RefreshGrant, isDue: (t: SessionTokens) => boolean): Promise<SessionTokens> {
  if (kept !== undefined && !isDue(kept)) return kept;
  const from = kept ?? old;
  if (!from.refreshToken) throw new GatehouseError('GH_SESSION_EXPIRED', 'access token expired and the session has no refresh token');
  return mergeTokens(from, await grant(from.refreshToken));
}

/**
 * Rotated tokens the provider issued but the store did not take (it failed
 * after the grant). The provider has consumed the old refresh token, and
 * replaying it would trip reuse detection and end the whole token family, so
 * the next refresh of that session in this process uses these instead (the
 * request in between gets 503). Process memory only, like the decrypted
 * sessions the managers cache; bounded, and kept no longer than the idle
 * timeout, after which the session has ended anyway.
 */
export class UnsavedRotations {
  private readonly entries: BoundedMap<string, { readonly replaced: string; readonly tokens: SessionTokens; readonly untilMs: number }>;

  constructor(
    private readonly now: Clock,
    private readonly ttlMs: number,
    maxEntries = 1000,
  ) {
    this.entries = new BoundedMap(maxEntries);
  }

  /**
   * Remembers `tokens` as the rotation of refresh token `replaced`, for session `key`. Kept
   * again after another failed write, it keeps its first deadline: a store that keeps refusing
   * writes must not keep the copy (and the retries that hold the refresh lock for it) alive.
   */
  keep(key: string, replaced: string, tokens: SessionTokens): void {
    const before = this.entries.get(key);
    const untilMs = before !== undefined && before.replaced === replaced ? before.untilMs : this.now() + this.ttlMs;
    this.entries.set(key, { replaced, tokens, untilMs });
  }

  /** The tokens kept for session `key`, if they replaced `refreshToken` (what the store still holds). */
  get(key: string, refreshToken: string | undefined): SessionTokens | undefined {
    const e = this.entries.get(key);
    if (e === undefined) return undefined;
    if (e.replaced === refreshToken && this.now() < e.untilMs) return e.tokens;
    this.entries.delete(key);
    return undefined;
  }

  /** The rotation reached the store. */
  forget(key: string): void {
    this.entries.delete(key);
  }
}

/** What the coordinator needs to know about one session's state. */
export interface RefreshOps<S> {
  /** True when the access token has expired or expires within the skew window. */
  needsRefresh(state: S): boolean;
  /** Reads the shared state again (store, or the stateless refresh-result cache); undefined once the session is gone. */
  reload(): Promise<S | undefined>;
  /** Calls the provider and stores the rotated tokens atomically; returns the new state. */
  refresh(state: S): Promise<S>;
  /** Ends the session after the provider refused the grant. */
  end(): Promise<void>;
  /** The tokens `state` holds: whether its access token can serve while the provider is down. */
  tokens(state: S): SessionTokens;
  /**
   * Whether this process keeps a rotation of `state`'s refresh token that the store did not
   * take (see UnsavedRotations) and that is not due itself: {@link refresh} then stores it
   * without asking the provider.
   */
  hasUnsavedRotation(state: S): boolean;
}

export interface RefreshCoordinatorOptions {
  /** Holds the cross-instance lock (`tryLock`); the store all instances share. */
  readonly store: Pick<SessionStore, 'tryLock'>;
  /**
   * Lifetime of the refresh lock, renewed every third of it while its holder
   * works: what a crashed holder leaves behind. Default 15000.
   */
  readonly lockTtlMs?: number;
  /** Longest a request waits for another instance's refresh before 503. Default 10000. */
  readonly waitMs?: number;
  /** Interval between re-reads while another instance refreshes. Default 50. */
  readonly pollMs?: number;
  /**
   * After a refresh failed for want of the provider, how long requests whose
   * access token is still usable go on with it without asking again. Default
   * 5000: an outage, or a token endpoint that times out, then costs one
   * attempt per session per interval instead of one (and a wait of up to
   * provider.timeoutMs) per request.
   */
  readonly retryAfterFailureMs?: number;
  /** Sessions whose last failed refresh is remembered. Default 10000; the oldest is forgotten first. */
  readonly maxRememberedFailures?: number;
  /** The sessions' clock, which their token expiry times are read against. */
  readonly now: Clock;
  /** Told the outcome of every refresh attempt (metrics). */
  readonly onOutcome?: (outcome: RefreshOutcome) => void;
}

/**
 * `refreshed`: one provider call; `adopted`: another request or instance had
 * just refreshed; `refused`: the session ended; `client_rejected`: the provider
 * refused the gateway's own client (a configuration problem, the session is
 * kept); `failed`: provider or store unavailable; `deferred`: not asked, the
 * session's refresh failed within `retryAfterFailureMs` and its access token
 * is still usable.
 */
export type RefreshOutcome = 'refreshed' | 'adopted' | 'refused' | 'client_rejected' | 'failed' | 'deferred';

/**
 * Exactly one refresh per expiry. In-process, concurrent callers for one
 * session share one promise. Across instances, the refresh runs under the
 * store's lock, and the state is re-read under it: another instance may
 * already have rotated the refresh token, and replaying the old one trips reuse
 * detection (RFC 9700) and revokes the whole family.
 */
export class RefreshCoordinator {
  private readonly inflight = new Map<string, Promise<unknown>>();
  /** Sessions whose refused rotation this process is storing in the background, holding their lock. */
  private readonly storing = new Set<string>();
  /** The last refresh of a session that failed for want of the provider, until when it stands. */
  private readonly failures: BoundedMap<string, { readonly err: GatehouseError; readonly untilMs: number }>;
  private readonly store: Pick<SessionStore, 'tryLock'>;
  private readonly lockTtlMs: number;
  private readonly waitMs: number;
  private readonly pollMs: number;
  private readonly retryAfterFailureMs: number;
  private readonly now: Clock;
  private readonly onOutcome: (outcome: RefreshOutcome) => void;

  constructor(opts: RefreshCoordinatorOptions) {
    this.onOutcome = opts.onOutcome ?? (() => {});
    this.store = opts.store;
    this.lockTtlMs = opts.lockTtlMs ?? 15_000;
    this.waitMs = opts.waitMs ?? 10_000;
    this.pollMs = opts.pollMs ?? 50;
    this.retryAfterFailureMs = opts.retryAfterFailureMs ?? 5000;
    this.now = opts.now;
    this.failures = new BoundedMap(opts.maxRememberedFailures ?? 10_000);
  }

  /** Refreshes in progress in this process (for metrics and tests). */
  get pending(): number {
    return this.inflight.size;
  }

  /**
   * The state with a usable access token: `current` when it is still fresh,
   * otherwise the result of the one refresh for `key`.
   */
  async ensureFresh<S>(key: string, current: S, ops: RefreshOps<S>): Promise<S> {
    if (!ops.needsRefresh(current)) return current;
    const running = this.inflight.get(key) as Promise<S> | undefined;
    if (running) {
      return running.then((s) => {
        this.onOutcome('adopted');
        return s;
      });
    }
    const failed = this.failures.get(key);
    if (failed !== undefined) {
      const now = this.now();
      // The same error object: the caller goes on with the token, and the failure log has already seen it.
      if (now < failed.untilMs && usableAfterFailedRefresh(failed.err, ops.tokens(current), now)) {
        this.onOutcome('deferred');
        throw failed.err;
      }
      if (now >= failed.untilMs) this.failures.delete(key);
    }
    const p = this.refreshOnce(key, ops).then(
      (s) => {
        this.failures.delete(key);
        return s;
      },
      (err: unknown) => {
        this.onOutcome(failureOutcome(err));
        if (err instanceof GatehouseError && err.code === 'GH_PROVIDER_UNAVAILABLE') {
          this.failures.set(key, { err, untilMs: this.now() + this.retryAfterFailureMs });
        }
        throw err;
      },
    ).finally(() => this.inflight.delete(key));
    this.inflight.set(key, p);
    return p;
  }

  private async refreshOnce<S>(key: string, ops: RefreshOps<S>): Promise<S> {
    // This process holds the lock for it: waiting would only end in the same 503, later.
    if (this.storing.has(key)) throw new GatehouseError('GH_SESSION_STORE_UNAVAILABLE', 'the refreshed session is not stored yet');
    const lockName = `refresh:${key}`;
    const attempts = Math.max(1, Math.ceil(this.waitMs / this.pollMs));
    for (let i = 0; i < attempts; i++) {
      const lock = await this.store.tryLock(lockName, this.lockTtlMs);
      if (lock) {
        // Renewed while held: a refresh slower than the lock's ttl (discovery, a slow token endpoint,
        // a slow store) must not let another instance take it and replay the old refresh token.
        const held = keepLock(lock, this.lockTtlMs);
        let handedOver = false;
        try {
          const latest = await ops.reload();
          if (latest === undefined) throw new GatehouseError('GH_SESSION_EXPIRED', 'session ended');
          if (!ops.needsRefresh(latest)) {
            this.onOutcome('adopted');
            return latest;
          }
          if (held.lost) throw new GatehouseError('GH_PROVIDER_UNAVAILABLE', 'the refresh lock lapsed before the refresh began');
          try {
            const refreshed = await ops.refresh(latest);
            this.onOutcome('refreshed');
            return refreshed;
          } catch (err) {
            if (err instanceof GatehouseError && err.code === 'GH_SESSION_EXPIRED') await ops.end();
            else if (ops.hasUnsavedRotation(latest)) {
              // The provider rotated and the store refused the result: released now, the lock would let
              // another instance replay the consumed refresh token, and reuse detection would end the
              // whole grant. Kept until the rotation is stored.
              handedOver = true;
              this.storing.add(key);
              void this.storeRotation(ops, latest, lock, held).finally(() => this.storing.delete(key));
            }
            throw err;
          }
        } finally {
          if (!handedOver) {
            held.stop();
            // A failed release only means the lock lingers until its ttl.
            await lock.release().catch(() => {});
          }
        }
      }
      // Another instance is refreshing: wait for its result rather than refresh again.
      await sleep(this.pollMs);
      const latest = await ops.reload();
      if (latest === undefined) throw new GatehouseError('GH_SESSION_EXPIRED', 'session ended');
      if (!ops.needsRefresh(latest)) {
        this.onOutcome('adopted');
        return latest;
      }
    }
    throw new GatehouseError('GH_PROVIDER_UNAVAILABLE', 'token refresh did not complete in time');
  }

  /**
   * Holding the lock, retries storing a rotation the store refused, from the copy this
   * process keeps, backing off up to 5 s; other instances' requests of the session wait
   * meanwhile and adopt it once stored (or get 503), this process's get 503 at once. It never
   * asks the provider: it ends when the rotation is stored, the session is gone, the kept copy
   * of `rotated`'s rotation lapses (the idle timeout from the first failure) or is due itself,
   * or the lock is lost. Its timers never keep the process alive.
   */
  private async storeRotation<S>(ops: RefreshOps<S>, rotated: S, lock: HeldLock, held: KeptLock): Promise<void> {
    try {
      for (let delayMs = 250; !held.lost && ops.hasUnsavedRotation(rotated); delayMs = Math.min(delayMs * 2, 5000)) {
        await sleep(delayMs, undefined, { ref: false });
        let latest: S | undefined;
        try {
          latest = await ops.reload();
        } catch {
          continue; // the store is still down
        }
        // Checked in the same tick as refresh() reads the kept copy: it stores that copy, never asks the provider.
        if (latest === undefined || !ops.needsRefresh(latest) || !ops.hasUnsavedRotation(latest)) return;
        try {
          await ops.refresh(latest);
          return;
        } catch (err) {
          // The session ended meanwhile (stateful: its entry is gone); otherwise still refused: try later.
          if (err instanceof GatehouseError && err.code === 'GH_SESSION_EXPIRED') return;
        }
      }
    } finally {
      held.stop();
      await lock.release().catch(() => {});
    }
  }
}

/** A held lock renewed in the background until stopped; `lost` once a renewal found it gone. */
interface KeptLock {
  readonly lost: boolean;
  stop(): void;
}

function keepLock(lock: HeldLock, ttlMs: number): KeptLock {
  let lost = false;
  let renewedAt = performance.now();
  const timer = setInterval(
    () => {
      lock.extend(ttlMs).then(
        (still) => {
          if (still) renewedAt = performance.now();
          else lost = true;
        },
        // Unreachable: for this instance alone, the lock may lapse and be taken elsewhere.
        () => {
          if (performance.now() - renewedAt >= ttlMs) lost = true;
        },
      );
    },
    Math.max(10, Math.floor(ttlMs / 3)),
  );
  timer.unref();
  return {
    get lost() {
      return lost;
    },
    stop: () => {
      clearInterval(timer);
    },
  };
}

function failureOutcome(err: unknown): RefreshOutcome {
  if (err instanceof GatehouseError && err.code === 'GH_SESSION_EXPIRED') return 'refused';
  // Apart from `failed`: a wrong secret or a disabled client looks like an outage to users, not to the metric.
  return isClientRejected(err) ? 'client_rejected' : 'failed';
}

/** True when a token expiring at `expiresAtSeconds` is expired or expires within `skewSeconds` of `nowMs`. */
export function expiresWithin(expiresAtSeconds: number, skewSeconds: number, nowMs: number): boolean {
  return expiresAtSeconds - skewSeconds <= nowMs / 1000;
}

/** Left on the access token for a request to go on with it when its refresh failed: an upstream checks `exp` with its own clock. */
const USABLE_MARGIN_SECONDS = 5;

/**
 * Whether a request may go on with the session's current access token after
 * its refresh failed with `err`: the provider could not be asked
 * (GH_PROVIDER_UNAVAILABLE: down, slow, or refusing the gateway's client) and
 * the token has not expired, only entered the refresh window. An outage then
 * costs nothing until the token really ends. A refused refresh (the session
 * ended) or a store failure is never passed over.
 */
export function usableAfterFailedRefresh(err: unknown, tokens: SessionTokens, nowMs: number): boolean {
  return (
    err instanceof GatehouseError &&
    err.code === 'GH_PROVIDER_UNAVAILABLE' &&
    tokens.accessTokenExpiresAt - USABLE_MARGIN_SECONDS > nowMs / 1000
  );
}

/**
 * True when the session's access token is to be refreshed at `nowMs`: it has
 * expired, or expires within the skew. The skew is at most half the token's
 * lifetime: a token that lives no longer than `skewSeconds` would otherwise be
 * due the moment it arrives, and every request would refresh it again. A
 * session stored without the issue time uses `skewSeconds` until its next
 * refresh records one.
 */
export function isRefreshDue(t: SessionTokens, skewSeconds: number, nowMs: number): boolean {
  const issuedAt = t.accessTokenIssuedAt;
  const skew = issuedAt === undefined ? skewSeconds : Math.min(skewSeconds, (t.accessTokenExpiresAt - issuedAt) / 2);
  return expiresWithin(t.accessTokenExpiresAt, skew, nowMs);
}
