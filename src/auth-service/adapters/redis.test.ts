import { randomBytes } from 'node:crypto';
import { adapterContract, adapterRaceContract } from '../../../test/helpers/auth-adapter-contract.js';
import { createRedisModelStore } from './redis.js';
import type { ModelStore } from './sqlite.js';

// The real Redis: a missing server fails these tests (connect rejects), it never skips them.
const url = process.env.GATEHOUSE_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

const open = async (now: () => number): Promise<ModelStore> => {
  const prefix = `gh-test-adapter:${randomBytes(6).toString('hex')}:`;
  const store = await createRedisModelStore(url, prefix, { now });
  return {
    factory: store.factory,
    async close() {
      const keys = await store.redis.keys(`${prefix}*`);
      if (keys.length > 0) await store.redis.del(...keys);
      await store.close();
    },
  };
};

adapterContract('redis', open);
adapterRaceContract('redis', open);
