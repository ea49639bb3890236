import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { adapterContract, adapterRaceContract } from '../../../test/helpers/auth-adapter-contract.js';
import { createSqliteModelStore, type ModelStore } from './sqlite.js';

const open = async (now: () => number): Promise<ModelStore> => {
  const dir = await mkdtemp(join(tmpdir(), 'gh-adapter-'));
  const store = await createSqliteModelStore(join(dir, 'm.sqlite'), { now });
  return {
    factory: store.factory,
    async close() {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
};

adapterContract('sqlite', open);
adapterRaceContract('sqlite', open);
