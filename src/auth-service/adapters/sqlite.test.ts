import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { adapterContract } from '../../../test/helpers/auth-adapter-contract.js';
import { createSqliteModelStore } from './sqlite.js';

adapterContract('sqlite', async (now) => {
  const dir = await mkdtemp(join(tmpdir(), 'gh-adapter-'));
  const store = await createSqliteModelStore(join(dir, 'm.sqlite'), { now });
  return {
    factory: store.factory,
    async close() {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});
