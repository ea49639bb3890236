import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SecondSightFilter } from './admission.js';
import { tokenCacheKey } from './cache.js';

const keyOf = (i: number) => tokenCacheKey(`token-${i}`);

describe('SecondSightFilter', () => {
  test('admits a key on its second offer, once: the record is consumed', () => {
    const filter = new SecondSightFilter(100);
    assert.equal(filter.admit(keyOf(1)), false);
    assert.equal(filter.admit(keyOf(2)), false);
    assert.equal(filter.admit(keyOf(1)), true);
    assert.equal(filter.admit(keyOf(1)), false, 'consumed: the cache holds it from now on');
    assert.equal(filter.admit(keyOf(2)), true);
  });

  test('within its window, keys offered twice are admitted, and keys offered once are not', () => {
    const window = 10_000;
    const filter = new SecondSightFilter(window);
    // A rotation of a tenth of the window: each key comes back after 999 others (16,384 slots: e^(-999/16384) ≈ 94% survive).
    const n = window / 10;
    for (let i = 0; i < n; i++) assert.equal(filter.admit(keyOf(i)), false);
    let admitted = 0;
    for (let i = 0; i < n; i++) if (filter.admit(keyOf(i))) admitted++;
    assert.ok(admitted > n * 0.85, `admitted ${admitted} of ${n}`);
    // Keys never offered before are not admitted (a fingerprint collision is possible but rare).
    let strangers = 0;
    for (let i = n; i < n + 5000; i++) if (filter.admit(keyOf(i))) strangers++;
    assert.ok(strangers <= 1, `${strangers} keys admitted on first offer`);
  });

  test('forgets: a key offered again after many times the window of other new keys counts as new', () => {
    const filter = new SecondSightFilter(1024);
    for (let i = 0; i < 1000; i++) filter.admit(keyOf(i));
    for (let i = 1000; i < 11_000; i++) filter.admit(keyOf(i));
    let admitted = 0;
    for (let i = 0; i < 1000; i++) if (filter.admit(keyOf(i))) admitted++;
    assert.ok(admitted < 20, `admitted ${admitted} of 1000 after 10,000 newer keys`);
  });

  test('a rotation larger than a bucket cannot starve: every key of a colliding group gets in within a few passes', () => {
    // Window 4: one bucket of four slots, six keys in rotation.
    const filter = new SecondSightFilter(4);
    const keys = [0, 1, 2, 3, 4, 5].map(keyOf);
    const pending = new Set(keys);
    for (let pass = 0; pass < 20 && pending.size > 0; pass++) {
      for (const k of [...pending]) if (filter.admit(k)) pending.delete(k);
    }
    assert.equal(pending.size, 0);
  });

  test('clear forgets every record', () => {
    const filter = new SecondSightFilter(100);
    filter.admit(keyOf(1));
    filter.clear();
    assert.equal(filter.admit(keyOf(1)), false);
  });
});
