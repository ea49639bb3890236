import { randomBytes } from 'node:crypto';
import { adapterAtRestContract, adapterContract, adapterRaceContract, type StoreProbe } from '../../../test/helpers/auth-adapter-contract.js';
import { createRedisModelStore } from './redis.js';
import type { ModelStore } from './sqlite.js';

// The real Redis: a missing server fails these tests (connect rejects), it never skips them.
const url = process.env.GATEHOUSE_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

const open = async (now: () => number): Promise<ModelStore & StoreProbe> => {
  const prefix = `gh-test-adapter:${randomBytes(6).toString('hex')}:`;
  const store = await createRedisModelStore(url, prefix, { now });
  const { redis } = store;
  return {
    factory: store.factory,
    async dump() {
      const keys = await redis.keys(`${prefix}*`);
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
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length > 0) await redis.del(...keys);
      await store.close();
    },
  };
};

adapterContract('redis', open);
adapterRaceContract('redis', open);
adapterAtRestContract('redis', open);
