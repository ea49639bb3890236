import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GatehouseError } from '../../errors.js';
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

test('memory: pinned entries (revocation records) are never evicted; a store full of them refuses writes until they expire', async () => {
  const clock = manualClock();
  const store = new MemorySessionStore({ maxEntries: 3, clock: clock.now, sweepIntervalMs: 0 });
  await store.put('ended:x', { data: '1', version: 1, pinned: true }, 10);
  for (const k of ['a', 'b', 'c', 'd', 'e']) await store.put(k, { data: k, version: 1, owner: 'o' }, 60);
  assert.equal(store.size, 3);
  assert.equal((await store.get('ended:x'))?.data, '1', 'the oldest write, yet kept');
  assert.deepEqual((await store.listByOwner('o')).sort(), ['d', 'e']);
  await store.put('ended:y', { data: '1', version: 1, pinned: true }, 100);
  await store.put('ended:z', { data: '1', version: 1, pinned: true }, 100);
  assert.equal(await store.get('d'), undefined, 'room is made from unpinned entries only');
  assert.equal(await store.get('e'), undefined);
  await assert.rejects(store.put('f', { data: 'f', version: 1 }, 60), (e: unknown) => e instanceof GatehouseError && e.code === 'GH_SESSION_STORE_UNAVAILABLE');
  await assert.rejects(store.put('ended:w', { data: '1', version: 1, pinned: true }, 60), (e: unknown) => e instanceof GatehouseError && e.code === 'GH_SESSION_STORE_UNAVAILABLE');
  for (const k of ['ended:x', 'ended:y', 'ended:z']) assert.ok(await store.get(k), k);
  clock.advance(11_000); // ended:x expires: its place is free again
  await store.put('f', { data: 'f', version: 1 }, 60);
  assert.equal((await store.get('f'))?.data, 'f');
  assert.equal(store.size, 3);
  await store.delete('ended:y');
  assert.equal(await store.get('ended:y'), undefined, 'pinned entries can still be deleted');
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
