import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BoundedMap } from './bounded-map.js';

test('BoundedMap keeps at most max entries, dropping the oldest insertion; a rewrite makes a key young', () => {
  const m = new BoundedMap<string, number>(2);
  m.set('a', 1).set('b', 2);
  m.set('a', 3); // a is now younger than b
  m.set('c', 4);
  assert.deepEqual([...m], [['a', 3], ['c', 4]]);
  assert.equal(m.size, 2);
  assert.throws(() => new BoundedMap(0), RangeError);
});
