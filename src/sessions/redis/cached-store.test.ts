import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { GatehouseError } from '../../errors.js';
import { deletePrefix, DisposableRedis, randomPrefix, REDIS_URL } from '../../../test/helpers/sessions.js';
import { manualClock, sessionStoreContract } from '../store-contract.js';
import type { Clock } from '../store.js';
import { CachedSessionStore } from './cached-store.js';
import { RedisSessionStore } from './redis-store.js';

const prefix = randomPrefix();
after(() => deletePrefix(REDIS_URL, prefix));

/** A cached store whose invalidation subscription is up (so reads are served from the cache). */
async function openCached(url: string, opts: { prefix: string; clock?: Clock; ttlMs?: number; commandTimeoutMs?: number }): Promise<CachedSessionStore> {
  const inner = await RedisSessionStore.connect(url, { prefix: opts.prefix, ...(opts.clock ? { clock: opts.clock } : {}), ...(opts.commandTimeoutMs ? { commandTimeoutMs: opts.commandTimeoutMs } : {}) });
  const store = new CachedSessionStore(inner, { maxEntries: 100, ttlMs: opts.ttlMs ?? 60_000, ...(opts.clock ? { clock: opts.clock } : {}) });
  if (!store.isSubscribed) await once(store, 'subscribed');
  return store;
}

sessionStoreContract('redis + local cache', (clock) => openCached(REDIS_URL, { prefix, clock }));

const isUnavailable = (err: unknown) => err instanceof GatehouseError && err.code === 'GH_SESSION_STORE_UNAVAILABLE';

/** Retries while the command connection (reconnecting on its own, apart from the subscriber) still answers 503. */
async function eventually<T>(op: () => Promise<T>): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await op();
    } catch (err) {
      if (!isUnavailable(err) || i >= 200) throw err;
      await sleep(25);
    }
  }
}
const entry = (data: string, version = 1) => ({ data, version, owner: 'o' });

/**
 * Runs a write and waits until `observer` has heard of it: a read that is in
 * flight when the message arrives is (rightly) not cached, so tests that count
 * cached reads start after the message.
 */
async function settled<T>(observer: CachedSessionStore, write: Promise<T>): Promise<T> {
  const seen = once(observer, 'invalidated');
  const out = await write;
  await seen;
  return out;
}

/** Two instances on one Redis, each with its own cache, as two gateways would be. */
async function twoInstances(t: { after(fn: () => Promise<void>): void }, ttlMs = 60_000) {
  const own = randomPrefix();
  const clock = manualClock();
  const a = await openCached(REDIS_URL, { prefix: own, clock: clock.now, ttlMs });
  const b = await openCached(REDIS_URL, { prefix: own, clock: clock.now, ttlMs });
  t.after(async () => {
    await a.close();
    await b.close();
    await deletePrefix(REDIS_URL, own);
  });
  return { a, b, clock, prefix: own };
}

test('cached: a repeated read is served locally; a write on another instance evicts it once the invalidation arrives', async (t) => {
  const { a, b } = await twoInstances(t);
  await settled(b, a.put('k', entry('one'), 600));
  assert.equal((await b.get('k'))?.data, 'one');
  assert.equal(b.size, 1, 'b holds the read');
  assert.equal(await b.get('k'), await b.get('k'), 'the same cached object, no round trip');

  const seen = once(b, 'invalidated');
  assert.equal(await a.replace('k', entry('two', 2), 600, 1), true);
  assert.deepEqual(await seen, ['k']);
  assert.equal(b.size, 0);
  assert.equal((await b.get('k'))?.data, 'two');
});

test('cached: a delete (logout) on one instance is seen by the other; absence is cached and invalidated too', async (t) => {
  const { a, b } = await twoInstances(t);
  assert.equal(await b.get('gone'), undefined);
  assert.equal(b.size, 1, 'known absent');
  const created = once(b, 'invalidated');
  await a.put('gone', entry('x'), 600);
  await created;
  assert.equal((await b.get('gone'))?.data, 'x', 'a put on a is seen where b had cached absence');

  const ended = once(b, 'invalidated');
  await a.delete('gone');
  await ended;
  assert.equal(await b.get('gone'), undefined, 'b rejects the ended session');
});

test('cached: own writes evict at once (read your writes); a fresh read bypasses the cache', async (t) => {
  const { a, prefix: own } = await twoInstances(t);
  await settled(a, a.put('k', entry('one'), 600));
  assert.equal((await a.get('k'))?.data, 'one');
  assert.equal(a.size, 1);
  const heard = once(a, 'invalidated');
  await a.put('k', entry('two', 2), 600);
  assert.equal((await a.get('k'))?.data, 'two', 'no wait for the message');
  await heard;
  assert.equal((await a.get('k'))?.data, 'two');

  // A change that publishes nothing (as if the message were lost): only a fresh read sees it.
  const raw = new Redis(REDIS_URL);
  t.after(async () => void (await raw.quit()));
  await raw.hset(`${own}s:k`, 'd', 'behind');
  assert.equal((await a.get('k'))?.data, 'two');
  assert.equal((await a.get('k', { fresh: true }))?.data, 'behind');
});

test('cached: entries live at most ttlMs: a lost invalidation is repaired by the clock', async (t) => {
  const { a, clock, prefix: own } = await twoInstances(t, 3_000);
  await settled(a, a.put('k', entry('one'), 600));
  assert.equal((await a.get('k'))?.data, 'one');
  const raw = new Redis(REDIS_URL);
  t.after(async () => void (await raw.quit()));
  await raw.hset(`${own}s:k`, 'd', 'behind');
  clock.advance(2_999);
  assert.equal((await a.get('k'))?.data, 'one', 'within the ttl');
  clock.advance(1);
  assert.equal((await a.get('k'))?.data, 'behind', 'past the ttl: read again');
});

test('cached: an invalidation during a read in flight keeps its (possibly old) answer out of the cache', async (t) => {
  const { a, b } = await twoInstances(t);
  await settled(b, a.put('k', entry('one'), 600));
  const seen = once(b, 'invalidated');
  const read = b.get('k');
  await a.put('k', entry('two', 2), 600);
  await seen;
  await read;
  assert.equal((await b.get('k'))?.data, 'two');
});

test('cached: Redis down → 503 (the cache hides nothing); on reconnect the cache starts empty, nothing lost', async (t) => {
  const redis = await DisposableRedis.start();
  t.after(() => redis.dispose());
  const store = await openCached(redis.url, { prefix: 'p:', commandTimeoutMs: 300 });
  t.after(() => store.close());
  await settled(store, store.put('k', entry('before'), 600));
  assert.equal((await store.get('k'))?.data, 'before');
  assert.equal(store.size, 1);

  const down = once(store, 'unsubscribed');
  await redis.stop();
  await down;
  assert.equal(store.size, 0, 'emptied when invalidations stopped');
  await assert.rejects(store.get('k'), isUnavailable);

  const up = once(store, 'subscribed');
  await redis.start();
  // A change made while this instance heard nothing: the reconnect must not serve anything older.
  const raw = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  t.after(async () => void (await raw.quit()));
  await raw.hset('p:s:k', 'd', 'during');
  await up;
  assert.equal(store.size, 0, 'starts empty after resubscribing');
  assert.equal((await eventually(() => store.get('k')))?.data, 'during');
});

test('cached: the invalidation channel sits under the prefix and carries only the session key', async (t) => {
  const { a, prefix: own } = await twoInstances(t);
  const listener = new Redis(REDIS_URL);
  t.after(async () => void (await listener.quit()));
  await listener.subscribe(`${own}inv`);
  const message = once(listener, 'message');
  await a.put('the-key', entry('secret-ish'), 600);
  assert.deepEqual(await message, [`${own}inv`, 'the-key']);
});
