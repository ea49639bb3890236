import assert from 'node:assert/strict';
import { test } from 'node:test';
import { manualClock, sessionStoreContract } from '../store-contract.js';
import { MemorySessionStore } from './memory-store.js';

sessionStoreContract('memory', async (clock) => new MemorySessionStore({ clock, sweepIntervalMs: 0 }));

test('memory: bounded — beyond maxEntries the least recently written entry goes', async () => {
  const store = new MemorySessionStore({ maxEntries: 3, sweepIntervalMs: 0 });
  for (const k of ['a', 'b', 'c']) await store.put(k, { data: k, version: 1, owner: 'o' }, 60);
  await store.put('a', { data: 'a2', version: 2, owner: 'o' }, 60); // a is now the most recent
  await store.put('d', { data: 'd', version: 1, owner: 'o' }, 60);
  assert.equal(store.size, 3);
  assert.equal(await store.get('b'), undefined);
  assert.equal((await store.get('a'))?.data, 'a2');
  assert.deepEqual((await store.listByOwner('o')).sort(), ['a', 'c', 'd']);
  await store.close();
});

test('memory: sweep drops expired entries and locks', async () => {
  const clock = manualClock();
  const store = new MemorySessionStore({ clock: clock.now, sweepIntervalMs: 0 });
  await store.put('a', { data: 'a', version: 1, owner: 'o' }, 1);
  await store.put('b', { data: 'b', version: 1 }, 100);
  assert.ok(await store.tryLock('l', 500));
  clock.advance(2000);
  store.sweep();
  assert.equal(store.size, 1);
  assert.ok(await store.tryLock('l', 500));
  await store.close();
});

test('memory: rejects a non-positive bound', () => {
  assert.throws(() => new MemorySessionStore({ maxEntries: 0 }), RangeError);
});
