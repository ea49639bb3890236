/**
 * Admission to a token cache on the second sighting (a "doorkeeper", as in
 * TinyLFU). A token used once gains nothing from a cache entry, and under a
 * stream of new tokens every entry (identity, claims, the token itself) lived
 * just long enough to be promoted to V8's old generation and then evicted:
 * about 15 µs of garbage-collection work per new token, measured with the
 * cache on and off in mode (c) of the bench. The filter remembers only a
 * 30-bit fingerprint per token, in a typed array, so it allocates nothing.
 *
 * Its memory is about `window` tokens (the slot count is the power of two at
 * or above it): records sit in buckets of four and a new record replaces a
 * random one of its bucket, so a record survives `d` later new tokens with
 * probability about e^(-d/slots). A token seen again after several windows
 * of other new tokens therefore counts as new, as it should: an LRU of the
 * same size would have evicted it before its reuse anyway. Random (not
 * oldest-first) replacement keeps a busy bucket from starving a rotation of
 * tokens forever. A fingerprint collision only admits a token early; it
 * never decides whether a token is valid.
 */
export class SecondSightFilter {
  private readonly slots: Uint32Array;
  private readonly bucketMask: number;
  /** xorshift32 state: picks the record a new one replaces. */
  private random = 0x2545f491;

  constructor(window: number) {
    const buckets = pow2AtLeast(Math.ceil(window / BUCKET_SLOTS));
    this.slots = new Uint32Array(buckets * BUCKET_SLOTS);
    this.bucketMask = buckets - 1;
  }

  /**
   * True when `key` was offered recently (its record is consumed); otherwise
   * records it and answers false. `key` must be uniformly distributed in its
   * first twelve characters, as a digest is.
   */
  admit(key: string): boolean {
    const bucket = mix(key, 0) & this.bucketMask;
    const fingerprint = (mix(key, 6) & FINGERPRINT_MASK) | FINGERPRINT_SET;
    const base = bucket * BUCKET_SLOTS;
    const slots = this.slots;
    for (let i = base; i < base + BUCKET_SLOTS; i++) {
      if (slots[i] === fingerprint) {
        slots[i] = 0;
        return true;
      }
    }
    let x = this.random;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.random = x;
    slots[base + (x & (BUCKET_SLOTS - 1))] = fingerprint;
    return false;
  }

  clear(): void {
    this.slots.fill(0);
  }
}

const BUCKET_SLOTS = 4;
const FINGERPRINT_MASK = 0x3fffffff;
// A set top bit makes every fingerprint differ from an empty slot (0).
const FINGERPRINT_SET = 0x40000000;

/** FNV-1a over six characters starting at `from`: 32 bits from 36 to 48 random ones (base64 or binary digest). */
function mix(key: string, from: number): number {
  let v = 0x811c9dc5;
  for (let i = from; i < from + 6; i++) v = Math.imul(v ^ key.charCodeAt(i), 0x01000193);
  return v >>> 0;
}

function pow2AtLeast(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}
