import { hash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { SecondSightFilter } from './admission.js';
import type { Identity } from './identity.js';

/** A verified token as cached: the identity and what vouched for it. */
export interface CachedVerification {
  readonly identity: Identity;
  /** Issuer (`iss`) and key id, so entries can be dropped when their key leaves the JWKS. */
  readonly issuer: string;
  readonly keyId: string;
  /** When the verdict lapses, in ms: the token's `exp`, or earlier its `maxTokenAge`; checked on every hit against the injected clock. */
  readonly expiresAtMs: number;
}

/**
 * Cache key for a token. SHA-256 keeps raw tokens out of the key space and
 * costs about half a microsecond for a typical token, against tens of
 * microseconds for the RSA verify it saves. (The identity still holds the
 * token, which has to be forwarded upstream.) The digest stays binary (latin1), one
 * character per byte: a 32-character key, and no base64 encoding (about 80 ns
 * of a 600-character token's 590 ns, measured).
 */
export function tokenCacheKey(token: string): string {
  return hash('sha256', token, 'binary');
}

/**
 * Verified tokens, bounded in entries, each living no longer than its token:
 * expiry is checked on every hit against the verifier's clock (an expired entry
 * is dropped then, or pushed out by newer ones). lru-cache's own TTL is not
 * used: it runs on a second clock and reads it on every lookup. Only successes
 * are stored here, and only from a token's second verification on (see
 * {@link SecondSightFilter}): a token used once is verified once and never
 * stored; one used twice is verified twice, then served from here.
 */
export class VerifiedTokenCache {
  private readonly lru: LRUCache<string, CachedVerification>;
  private readonly admission: SecondSightFilter;

  constructor(maxEntries: number) {
    this.lru = new LRUCache({ max: maxEntries });
    this.admission = new SecondSightFilter(maxEntries);
  }

  get(key: string, nowMs: number): CachedVerification | undefined {
    const entry = this.lru.get(key);
    if (!entry) return undefined;
    // Written so that a NaN expiry fails closed: never served.
    if (!(nowMs < entry.expiresAtMs)) {
      this.lru.delete(key);
      return undefined;
    }
    return entry;
  }

  set(key: string, entry: CachedVerification, nowMs: number): void {
    if (!(entry.expiresAtMs > nowMs) || !this.admission.admit(key)) return;
    this.lru.set(key, entry);
  }

  /**
   * Drops entries vouched for by a key the issuer no longer publishes. Without
   * this, a token signed by a withdrawn (perhaps compromised) key would keep
   * passing from the cache until its own expiry. Runs on JWKS refresh only.
   */
  dropWithdrawnKeys(issuer: string, liveKeyIds: ReadonlySet<string>): number {
    const doomed: string[] = [];
    for (const [key, entry] of this.lru.entries()) {
      if (entry.issuer === issuer && !liveKeyIds.has(entry.keyId)) doomed.push(key);
    }
    for (const key of doomed) this.lru.delete(key);
    return doomed.length;
  }

  get size(): number {
    return this.lru.size;
  }
}

/**
 * Tokens known to be bad whatever the clock says (a signature that does not
 * verify under a key we hold), by cache key, each with what refused it (one
 * shared object per issuer, so an entry allocates nothing of its own): the
 * refusal is always the same, but the caller may ask the refuser whether new
 * keys could now change it. Replaying one then costs a hash and a lookup, not
 * a signature check. Bounded; cleared whenever an issuer's keys change,
 * because a new key could make a once-bad signature good. Admits a token on
 * its second failure, like {@link VerifiedTokenCache}: a flood of distinct
 * forgeries costs one signature check each and leaves nothing behind.
 */
export class RejectedTokenCache<Refuser extends object> {
  private readonly lru: LRUCache<string, Refuser>;
  private readonly admission: SecondSightFilter;

  constructor(maxEntries: number) {
    this.lru = new LRUCache({ max: maxEntries });
    this.admission = new SecondSightFilter(maxEntries);
  }

  /** What refused the token, or undefined when it is not known as bad. */
  get(key: string): Refuser | undefined {
    return this.lru.get(key);
  }

  add(key: string, refusedBy: Refuser): void {
    if (this.admission.admit(key)) this.lru.set(key, refusedBy);
  }

  clear(): void {
    this.lru.clear();
    this.admission.clear();
  }
}
