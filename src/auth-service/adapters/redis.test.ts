import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AdapterPayload } from 'oidc-provider';
import { adapterAtRestContract, adapterContract, adapterRaceContract, type StoreProbe } from '../../../test/helpers/auth-adapter-contract.js';
import { scanKeys } from '../../../test/helpers/sessions.js';
import { createRedisModelStore } from './redis.js';
import type { ModelStore } from './sqlite.js';

// The real Redis: a missing server fails these tests (connect rejects), it never skips them.
const url = process.env.GATEHOUSE_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

const open = async (now: () => number): Promise<ModelStore & StoreProbe & { prefix: string }> => {
  const prefix = `gh-test-adapter:${randomBytes(6).toString('hex')}:`;
  const store = await createRedisModelStore(url, prefix, { now });
  const { redis } = store;
  return {
    prefix,
    factory: store.factory,
    async dump() {
      const keys = await scanKeys(redis, prefix);
      const out: string[] = [];
      for (const key of keys) {
        const type = await redis.type(key);
        out.push(key, type === 'set' ? (await redis.smembers(key)).join(' ') : ((await redis.get(key)) ?? ''));
      }
      return out.join('\n');
    },
    async writeLegacy(model, id, payload, expiresInSeconds) {
      const key = `${prefix}${model}:${id}`;
      await redis.set(key, JSON.stringify({ e: now() + expiresInSeconds * 1000, p: payload }), 'EX', expiresInSeconds);
      if (payload.grantId) await redis.sadd(`${prefix}grant:${payload.grantId}`, key);
    },
    async close() {
      const keys = await scanKeys(redis, prefix);
      if (keys.length > 0) await redis.del(...keys);
      await store.close();
    },
  };
};

adapterContract('redis', open);
adapterRaceContract('redis', open);
adapterAtRestContract('redis', open);

test('redis: a consume racing its grant\'s revocation never brings the record back (consumed, outside its grant, without a TTL)', async (t) => {
  const a = await open(Date.now);
  t.after(() => a.close());
  // A second connection, as another instance: its commands interleave with the consume's round trips.
  const b = await createRedisModelStore(url, a.prefix);
  t.after(() => b.close());
  for (let i = 0; i < 400; i++) {
    const rt = a.factory('RefreshToken');
    await rt.upsert(`rt-${i}`, { jti: `rt-${i}`, grantId: `g-${i}` } as AdapterPayload, 600);
    // Each delay lands the revocation at another step of the consume.
    const revoke = (async () => {
      for (let k = 0; k < i % 8; k++) await b.redis.ping();
      await b.factory('RefreshToken').revokeByGrantId(`g-${i}`);
    })();
    await Promise.allSettled([rt.consume(`rt-${i}`), revoke]);
    assert.equal(await rt.find(`rt-${i}`), undefined, `round ${i}`);
  }
  for (const key of await b.redis.keys(`${a.prefix}*`)) assert.notEqual(await b.redis.pttl(key), -1, key);
});
