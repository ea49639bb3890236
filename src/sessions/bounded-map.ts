/**
 * A Map that forgets its oldest insertion once it holds more than `max`
 * entries. Cheaper than an LRU on the per-request path (a hit moves nothing);
 * entries that stay in use are rewritten often enough (on change, or on refill
 * after expiry) that insertion order is a fair stand-in for recency.
 */
export class BoundedMap<K, V> extends Map<K, V> {
  constructor(readonly max: number) {
    super();
    if (!Number.isInteger(max) || max < 1) throw new RangeError('max must be a positive integer');
  }

  override set(key: K, value: V): this {
    // Re-inserting moves the key to the young end.
    super.delete(key);
    super.set(key, value);
    if (this.size > this.max) super.delete(this.keys().next().value as K);
    return this;
  }
}
