import { setImmediate as nextTurn } from 'node:timers/promises';
import type { JwsAlgorithm } from '../jwt/algorithms.js';
import { importVerificationJwk, type SkippedKey } from '../keys/import.js';
import { KeySet, type KeySelection, type VerificationKey } from '../keys/key-set.js';
import { assertJwksUrlAllowed, fetchJwksDocument, JwksFetchError } from './fetch.js';
import { timerDelay } from '../../timers.js';

export interface RemoteKeySourceOptions {
  readonly jwksUri: string;
  readonly algorithms: readonly JwsAlgorithm[];
  readonly timeoutMs: number;
  readonly maxBytes: number;
  /** Seconds fetched keys are fresh; a background refresh runs before this ends. */
  readonly cacheMaxAgeSeconds: number;
  /** Seconds between re-fetches triggered by requests: an unknown `kid`, a signature that fails, keys that never loaded. */
  readonly cooldownSeconds: number;
  /** Clock in ms; decides cooldowns, so tests can step past them without sleeping. */
  readonly now: () => number;
  readonly onFetch?: (result: 'ok' | 'error', reason?: string) => void;
  /**
   * Called on each fetch that served keys which must never be (private key material: the
   * issuer's key has leaked) or cannot be (an Ed448 key, a key behind another with its kid and
   * algorithm). Other skipped keys (encryption keys, other algorithms) are routine and unreported.
   */
  readonly onKeysRefused?: (refused: readonly SkippedKey[]) => void;
  /**
   * Called when a fetch installs a set with no usable key while the set before had some (or
   * there was none yet): once per such change, not on every refresh that finds it still empty.
   * `skipped` holds every key of the set and why it was not used.
   */
  readonly onNoUsableKeys?: (skipped: readonly SkippedKey[]) => void;
  /** Called with the new and previous set whenever a fetch installs keys. */
  readonly onKeysChanged?: (next: KeySet, previous: KeySet | undefined) => void;
  /**
   * Keys to serve until a fetch brings others: the last good set of a source this one replaces
   * for the same `jwksUri` and algorithms (a reload that changed only the fetch limits). The
   * source is ready at once; it still fetches at once, with its own limits.
   */
  readonly initialKeys?: KeySet;
}

/**
 * Keys that share their `kid` with an earlier key for some of their algorithms. A token naming
 * that kid is checked against the first key under it that allows the token's `alg` (KeySet.select),
 * so for those algorithms the later key is never tried, and the issuer's tokens signed with it
 * fail; for its other algorithms it serves. The set is the issuer's to fix; the operator hears of
 * it, in those terms.
 */
function shadowedKeys(keys: readonly VerificationKey[]): SkippedKey[] {
  const shadowed: SkippedKey[] = [];
  keys.forEach((key, i) => {
    if (key.kid === undefined) return;
    const earlier = keys.slice(0, i).filter((k) => k.kid === key.kid);
    const hidden = [...key.algorithms].filter((a) => earlier.some((k) => k.algorithms.has(a)));
    if (hidden.length === 0) return;
    const serving = [...key.algorithms].filter((a) => !hidden.includes(a));
    const reason =
      serving.length === 0
        ? `shares its kid with an earlier key for each of its algorithms (${hidden.join(', ')}), so it is never selected`
        : `shares its kid with an earlier key for ${hidden.join(', ')}, so it is selected only for ${serving.join(', ')}`;
    shadowed.push({ kid: key.kid, reason });
  });
  return shadowed;
}

/** Keys imported between two turns of the event loop: a set of thousands (`jwks.maxBytes` allows that) must not stall requests. */
const KEYS_PER_TURN = 100;

/** Refresh when this share of `cacheMaxAge` has passed, so keys are renewed before they age out. */
const REFRESH_AT = 0.75;
const MIN_TIMER_MS = 50;
const MAX_RETRY_MS = 60_000;

/**
 * Keys from a JWKS endpoint. Loads at construction, refreshes in the background
 * ahead of `cacheMaxAge`, re-fetches on an unknown `kid` or a signature that
 * fails at most once per cooldown (one cooldown for both), and keeps the last
 * good set whenever a fetch fails or returns garbage: a broken endpoint
 * degrades to "no new keys", never to "no keys".
 * The last good set is kept without an age limit — an outage of the issuer's
 * JWKS must not take the gateway down with it.
 *
 * A well-formed JWK Set is the issuer's word, even when no key in it is usable
 * (`{"keys":[]}`, only keys of other algorithms, the old key re-published as
 * `use: enc`): it is installed, so a withdrawn key stops verifying at that
 * fetch. Treated as a failure, it kept the withdrawn key verifying for good.
 */
export class RemoteKeySource {
  readonly kind = 'remote';
  /** The installed key set; read synchronously on the hot path. */
  current: KeySet | undefined;
  readonly ready: Promise<void>;
  /** Settles once the fetch started at construction has ended (within `timeoutMs`), keys or not. Never rejects. */
  readonly firstFetch: Promise<void>;
  /** Why the last fetch failed, in words safe for logs; undefined after one that succeeded. */
  lastError: string | undefined;
  private readonly url: URL;
  private inFlight: Promise<void> | undefined;
  private lastTriggeredFetchMs = Number.NEGATIVE_INFINITY;
  private failures = 0;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  /** Aborts a fetch under way on close(), so shutdown does not wait for a slow endpoint. */
  private readonly closing = new AbortController();
  private markReady!: () => void;

  constructor(private readonly opts: RemoteKeySourceOptions) {
    this.url = assertJwksUrlAllowed(opts.jwksUri);
    this.ready = new Promise((resolve) => (this.markReady = resolve));
    if (opts.initialKeys) {
      this.current = opts.initialKeys;
      this.markReady();
    }
    this.firstFetch = this.refresh();
  }

  isReady(): boolean {
    return this.current !== undefined;
  }

  /**
   * Picks a key, fetching first when the set never loaded or when the token
   * names an unknown `kid` (both bounded by the cooldown, and concurrent
   * callers share one fetch). Returns `undefined` when keys never loaded, and
   * for an unknown `kid` while the last fetch failed.
   */
  async select(kid: string | undefined, alg: JwsAlgorithm): Promise<KeySelection | undefined> {
    if (!this.current) {
      // Join a fetch under way; if it fails, try once more ourselves when the cooldown allows.
      if (this.inFlight) await this.inFlight;
      if (!this.current && this.mayTriggerFetch()) await this.refresh();
      if (!this.current) return undefined;
    }
    let selection = this.current.select(kid, alg);
    if (selection.status !== 'unknown-kid') return selection;
    // A fetch under way may have started before the key was published: join it,
    // and fetch again ourselves if it did not bring the key and the cooldown allows.
    if (this.inFlight) {
      await this.inFlight;
      selection = this.current.select(kid, alg);
      if (selection.status !== 'unknown-kid') return selection;
    }
    if (this.mayTriggerFetch()) {
      await this.refresh();
      selection = this.current.select(kid, alg);
    }
    // While the endpoint fails, the set is stale and the kid may be one published since:
    // "keys unavailable" (503, retry) rather than "unknown key" (401, which sends a client
    // for a new token that names the same kid).
    return selection.status === 'unknown-kid' && this.lastError !== undefined ? undefined : selection;
  }

  /**
   * Whether a signature that failed under the current keys may be worth a
   * re-fetch now: a fetch is under way (joining it costs nothing), or the
   * cooldown has passed. Only reads, so the synchronous path can ask it for
   * every forgery; {@link selectAfterBadSignature} spends the cooldown.
   */
  mayRefetchAfterBadSignature(nowMs: number): boolean {
    return this.inFlight !== undefined || this.cooldownPassed(nowMs);
  }

  /**
   * After a signature failed under the key `failedKeyId`: the issuer may have
   * published new material under that `kid`, or the `kid` the token names
   * while it fell back to the unnamed key. Joins a fetch under way, or fetches
   * when the cooldown allows (the cooldown of unknown kids: a flood of
   * forgeries costs at most one fetch per cooldown), and picks a key again.
   * Returns the new selection when it is not the key that failed; `undefined`
   * when no fetch was allowed or it brought nothing new for this token.
   */
  async selectAfterBadSignature(kid: string | undefined, alg: JwsAlgorithm, failedKeyId: string): Promise<KeySelection | undefined> {
    if (this.inFlight) {
      await this.inFlight;
      const selection = this.selectOtherThan(kid, alg, failedKeyId);
      if (selection) return selection;
    }
    if (!this.mayTriggerFetch()) return undefined;
    await this.refresh();
    return this.selectOtherThan(kid, alg, failedKeyId);
  }

  /** Fetches now (or joins the fetch under way). Never rejects. */
  refresh(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.inFlight ??= this.load().finally(() => {
      this.inFlight = undefined;
      this.schedule();
    });
    return this.inFlight;
  }

  close(): void {
    this.closed = true;
    this.closing.abort();
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private mayTriggerFetch(): boolean {
    const now = this.opts.now();
    if (!this.cooldownPassed(now)) return false;
    this.lastTriggeredFetchMs = now;
    return true;
  }

  /**
   * A negative elapsed time (the wall clock was stepped back since the last
   * triggered fetch) counts as the cooldown having passed: read as "not yet",
   * it blocked re-fetches for the whole step plus the cooldown. The fetch it
   * allows restarts the cooldown from the new reading, so a step costs at most
   * one extra fetch.
   */
  private cooldownPassed(nowMs: number): boolean {
    const elapsedMs = nowMs - this.lastTriggeredFetchMs;
    return elapsedMs < 0 || elapsedMs >= this.opts.cooldownSeconds * 1000;
  }

  /** The key for `kid` and `alg` now, unless it is still the one with id `keyId`. */
  private selectOtherThan(kid: string | undefined, alg: JwsAlgorithm, keyId: string): KeySelection | undefined {
    const selection = this.current!.select(kid, alg);
    return selection.status === 'found' && selection.key.id === keyId ? undefined : selection;
  }

  private async load(): Promise<void> {
    try {
      const doc = await fetchJwksDocument(this.url, this.opts, this.closing.signal);
      const keys: VerificationKey[] = [];
      const skipped: SkippedKey[] = [];
      for (const [i, jwk] of doc.keys.entries()) {
        if (i > 0 && i % KEYS_PER_TURN === 0) await nextTurn();
        const imported = importVerificationJwk(jwk, this.opts.algorithms);
        if ('material' in imported) keys.push(imported);
        else skipped.push(imported);
      }
      if (this.closed) return;
      const refused = [...skipped.filter((k) => k.reported), ...shadowedKeys(keys)];
      if (refused.length > 0) this.opts.onKeysRefused?.(refused);
      const previous = this.current;
      this.current = new KeySet(keys);
      this.failures = 0;
      this.lastError = undefined;
      if (keys.length === 0 && (previous === undefined || previous.size > 0)) this.opts.onNoUsableKeys?.(skipped);
      this.opts.onKeysChanged?.(this.current, previous);
      this.opts.onFetch?.('ok');
      this.markReady();
    } catch (err) {
      if (this.closed) return;
      this.failures++;
      this.lastError = err instanceof JwksFetchError ? err.message : 'failed';
      this.opts.onFetch?.('error', this.lastError);
    }
  }

  private schedule(): void {
    if (this.closed) return;
    if (this.timer) clearTimeout(this.timer);
    const refreshMs = Math.max(MIN_TIMER_MS, this.opts.cacheMaxAgeSeconds * 1000 * REFRESH_AT);
    // After a failure retry sooner, backing off, but never later than a normal refresh.
    const delay =
      this.failures === 0 ? refreshMs : Math.max(MIN_TIMER_MS, Math.min(refreshMs, MAX_RETRY_MS, 500 * 2 ** (this.failures - 1)));
    this.timer = setTimeout(() => void this.refresh(), timerDelay(delay));
    this.timer.unref();
  }
}
