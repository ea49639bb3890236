import assert from 'node:assert/strict';
import { test } from 'node:test';
import { roundOrder } from './order.js';

/** How often target `a` was loaded right before target `b`, over rounds 0 … rounds−1. */
function followCounts(count: number, rounds: number): Map<string, number> {
  const counts = new Map<string, number>();
  for (let r = 0; r < rounds; r++) {
    const row = roundOrder(count, r);
    assert.deepEqual([...row].sort((x, y) => x - y), [...Array(count).keys()], `round ${r} loads every target once`);
    for (let i = 1; i < row.length; i++) {
      const key = `${row[i - 1]}→${row[i]}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
  }
  return counts;
}

test('every target follows every other exactly once per cycle, for even counts', () => {
  for (const n of [2, 4, 6]) {
    const counts = followCounts(n, n);
    assert.equal(counts.size, n * (n - 1), `n=${n}: every ordered pair occurs`);
    for (const [pair, c] of counts) assert.equal(c, 1, `n=${n}: ${pair}`);
  }
});

test('odd counts balance over two passes: every ordered pair twice', () => {
  for (const n of [3, 5]) {
    const counts = followCounts(n, 2 * n);
    assert.equal(counts.size, n * (n - 1), `n=${n}: every ordered pair occurs`);
    for (const [pair, c] of counts) assert.equal(c, 2, `n=${n}: ${pair}`);
  }
});

test('each target is first once per cycle, and the cycle repeats', () => {
  const firsts = [0, 1, 2, 3].map((r) => roundOrder(4, r)[0]);
  assert.deepEqual([...firsts].sort(), [0, 1, 2, 3]);
  assert.deepEqual(roundOrder(4, 5), roundOrder(4, 1));
  assert.deepEqual(roundOrder(1, 3), [0]);
  assert.deepEqual(roundOrder(0, 0), []);
});

test('five targets over the default five rounds, half a cycle: no pair more than twice, and the third target after each of the others', () => {
  const counts = followCounts(5, 5);
  for (const [pair, c] of counts) assert.ok(c <= 2, pair);
  // The target loaded third (the gateway in (c)) follows each of the other four once.
  const before = [...counts.keys()].filter((p) => p.endsWith('→2')).map((p) => p.split('→')[0]).sort();
  assert.deepEqual(before, ['0', '1', '3', '4']);
});
