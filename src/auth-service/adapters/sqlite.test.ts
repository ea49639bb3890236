import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { adapterAtRestContract, adapterContract, adapterRaceContract, type StoreProbe } from '../../../test/helpers/auth-adapter-contract.js';
import { createSqliteModelStore, type ModelStore } from './sqlite.js';

const open = async (now: () => number): Promise<ModelStore & StoreProbe> => {
  const dir = await mkdtemp(join(tmpdir(), 'gh-adapter-'));
  const file = join(dir, 'm.sqlite');
  const store = await createSqliteModelStore(file, { now });
  const raw = new DatabaseSync(file);
  return {
    factory: store.factory,
    async dump() {
      return JSON.stringify(raw.prepare('SELECT model, id, payload, grant_id, uid FROM oidc_models').all());
    },
    async writeLegacy(model, id, payload, expiresInSeconds) {
      raw
        .prepare('INSERT INTO oidc_models (model, id, payload, grant_id, expires_at) VALUES (?, ?, ?, ?, ?)')
        .run(model, id, JSON.stringify(payload), payload.grantId ?? null, now() + expiresInSeconds * 1000);
    },
    async close() {
      raw.close();
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
};

adapterContract('sqlite', open);
adapterRaceContract('sqlite', open);
adapterAtRestContract('sqlite', open);
