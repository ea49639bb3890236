import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { GatehouseError } from '../../errors.js';
import { countPrefix, deletePrefix, DisposableRedis, randomPrefix, REDIS_URL } from '../../../test/helpers/sessions.js';
import { sessionStoreContract } from '../store-contract.js';
import { RedisSessionStore } from './redis-store.js';

const prefix = randomPrefix();
after(() => deletePrefix(REDIS_URL, prefix));

sessionStoreContract('redis', (clock) => RedisSessionStore.connect(REDIS_URL, { prefix, clock }));

const isUnavailable = (err: unknown) => err instanceof GatehouseError && err.code === 'GH_SESSION_STORE_UNAVAILABLE' && err.status === 503;

test('redis: every key sits under the prefix, with a ttl', async (t) => {
  const own = randomPrefix();
  const store = await RedisSessionStore.connect(REDIS_URL, { prefix: own });
  t.after(async () => {
    await store.close();
    await deletePrefix(REDIS_URL, own);
  });
  await store.put('k1', { data: 'd', version: 1, owner: 'o1' }, 30);
  const lock = await store.tryLock('k1', 30_000);
  assert.equal(await countPrefix(REDIS_URL, own), 3, 'entry, owner index, lock');
  await lock?.release();
  await store.delete('k1');
  assert.equal(await countPrefix(REDIS_URL, own), 0, 'delete removes the entry and empties the index');
});

test('redis: connecting to a Redis that is not there fails with GH_SESSION_STORE_UNAVAILABLE', async () => {
  const gone = await DisposableRedis.start();
  await gone.dispose();
  await assert.rejects(RedisSessionStore.connect(gone.url, { commandTimeoutMs: 500 }), isUnavailable);
});

test('redis: down or frozen → GH_SESSION_STORE_UNAVAILABLE; once back, nothing is lost', async (t) => {
  const redis = await DisposableRedis.start();
  t.after(() => redis.dispose());
  const store = await RedisSessionStore.connect(redis.url, { commandTimeoutMs: 300, prefix: 'p:' });
  t.after(() => store.close());
  await store.put('s1', { data: 'before', version: 1, owner: 'u' }, 600);

  await redis.stop();
  await assert.rejects(store.get('s1'), isUnavailable);
  await assert.rejects(store.put('s2', { data: 'x', version: 1 }, 60), isUnavailable);
  await assert.rejects(store.tryLock('s1', 1000), isUnavailable);

  await redis.start();
  const back = await eventually(() => store.get('s1'));
  assert.equal(back?.data, 'before');
  assert.deepEqual(await store.listByOwner('u'), ['s1']);

  redis.freeze();
  await assert.rejects(store.get('s1'), isUnavailable);
  redis.thaw();
  assert.equal((await eventually(() => store.get('s1')))?.data, 'before');
  await store.put('s3', { data: 'after', version: 1 }, 60);
  assert.equal((await store.get('s3'))?.data, 'after');
});

test('redis: an outage is logged once (a warning, however many commands fail), and its end once; a frozen Redis too', async (t) => {
  const redis = await DisposableRedis.start();
  t.after(() => redis.dispose());
  const lines: { level: string; msg: string }[] = [];
  const logger = {
    warn: (_o: unknown, msg?: string) => void lines.push({ level: 'warn', msg: msg ?? '' }),
    info: (o: unknown, msg?: string) => void lines.push({ level: 'info', msg: msg ?? String(o) }),
  };
  const store = await RedisSessionStore.connect(redis.url, { commandTimeoutMs: 300, prefix: 'log:', logger });
  t.after(() => store.close());
  await store.put('s1', { data: 'x', version: 1 }, 600);
  assert.equal(lines.length, 0);

  await redis.stop();
  for (let i = 0; i < 5; i++) await assert.rejects(store.get('s1'), isUnavailable);
  await redis.start();
  await eventually(() => store.get('s1'));
  assert.deepEqual(lines.map((l) => l.level), ['warn', 'info'], JSON.stringify(lines));
  assert.match(lines[0]?.msg ?? '', /not answering/);
  assert.match(lines[1]?.msg ?? '', /answering again/);

  // An error reply is no outage: a Redis that answers.
  const raw = new Redis(redis.url);
  t.after(() => raw.disconnect());
  await raw.set('log:s:wrong', 'a string where a hash belongs');
  await assert.rejects(store.get('wrong'), isUnavailable);
  assert.equal(lines.length, 2, JSON.stringify(lines));
  // A refusal of service is one: a full Redis (maxmemory reached under noeviction) refuses every write.
  await raw.config('SET', 'maxmemory', '1');
  await assert.rejects(store.put('s2', { data: 'y', version: 1 }, 600), isUnavailable);
  await assert.rejects(store.put('s3', { data: 'y', version: 1 }, 600), isUnavailable);
  await raw.config('SET', 'maxmemory', '0');
  await store.put('s2', { data: 'y', version: 1 }, 600);
  assert.deepEqual(lines.map((l) => l.level), ['warn', 'info', 'warn', 'info'], JSON.stringify(lines));

  redis.freeze(); // the connection stays: only commands timing out tell
  for (let i = 0; i < 3; i++) await assert.rejects(store.get('s1'), isUnavailable);
  redis.thaw();
  await eventually(() => store.get('s1'));
  assert.deepEqual(lines.map((l) => l.level), ['warn', 'info', 'warn', 'info', 'warn', 'info'], JSON.stringify(lines));
});

/** Retries while the store reports unavailable (the client is reconnecting). */
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

test('redis: a store opened while Redis is down answers 503 and is not ready, then works once Redis comes up', async (t) => {
  const redis = await DisposableRedis.start();
  t.after(() => redis.dispose());
  await redis.stop();
  const store = RedisSessionStore.open(redis.url, { commandTimeoutMs: 300, prefix: 'p:' });
  t.after(() => store.close());
  await assert.rejects(store.get('k'), isUnavailable);
  assert.equal(store.isReady(), false, 'not ready for traffic while Redis is down');
  await redis.start();
  await store.ready;
  assert.equal(store.isReady(), true);
  await eventually(() => store.put('k', { data: 'v', version: 1 }, 60));
  assert.equal((await store.get('k'))?.data, 'v');
});
