import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { errors, type Adapter, type AdapterFactory, type AdapterPayload } from 'oidc-provider';
import { openSqlite } from '../sqlite-open.js';
import { fromStored, mayBeLegacyTokenId, storedId, toStored } from './at-rest.js';

/** Models whose second use is a replay that ends the grant, even when the two uses race. */
export const REPLAY_REVOKES = new Set(['RefreshToken', 'AuthorizationCode']);

/**
 * What consume does when the record is gone. oidc-provider found the token a moment
 * before: gone since, it was revoked (or expired) in between, and the refresh or
 * code exchange must fail, or it would issue tokens for a grant just revoked. Other
 * models (a pushed authorization request) have no grant: nothing to refuse.
 */
export function vanished(model: string): void {
  if (REPLAY_REVOKES.has(model)) {
    throw new errors.InvalidGrant(`${model === 'RefreshToken' ? 'refresh token' : 'authorization code'} revoked while in use`);
  }
}

/** Storage for oidc-provider models, plus a way to close it. */
export interface ModelStore {
  readonly factory: AdapterFactory;
  close(): Promise<void>;
}

/**
 * oidc-provider models in one SQLite table. Rows carry the grant id, user code
 * and uid as indexed columns so `revokeByGrantId`, `findByUserCode` and
 * `findByUid` are single indexed statements. Expiry is checked against the
 * injected clock on read (so tests can move time) and swept on write.
 */
export async function createSqliteModelStore(path: string, opts: { now?: () => number } = {}): Promise<ModelStore> {
  const now = opts.now ?? Date.now;
  const db = await openSqlite(path);
  db.exec(`
    CREATE TABLE IF NOT EXISTS oidc_models (
      model TEXT NOT NULL,
      id TEXT NOT NULL,
      payload TEXT NOT NULL,
      grant_id TEXT,
      user_code TEXT,
      uid TEXT,
      expires_at INTEGER,
      PRIMARY KEY (model, id)
    );
    CREATE INDEX IF NOT EXISTS oidc_models_grant ON oidc_models (grant_id) WHERE grant_id IS NOT NULL;
    CREATE INDEX IF NOT EXISTS oidc_models_user_code ON oidc_models (model, user_code) WHERE user_code IS NOT NULL;
    CREATE INDEX IF NOT EXISTS oidc_models_uid ON oidc_models (model, uid) WHERE uid IS NOT NULL;
    CREATE INDEX IF NOT EXISTS oidc_models_expiry ON oidc_models (expires_at) WHERE expires_at IS NOT NULL;
  `);
  const stmts = prepare(db);
  let writes = 0;

  const factory: AdapterFactory = (model: string) => new SqliteAdapter(model, stmts, now, () => {
    // Sweep expired rows now and then, not on every write.
    if (++writes % 200 === 0) stmts.sweep.run(now());
  });
  return {
    factory,
    async close() {
      if (db.isOpen) db.close();
    },
  };
}

type Statements = ReturnType<typeof prepare>;

function prepare(db: DatabaseSync) {
  const s = (sql: string): StatementSync => db.prepare(sql);
  return {
    upsert: s(`INSERT INTO oidc_models (model, id, payload, grant_id, user_code, uid, expires_at)
               VALUES (?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (model, id) DO UPDATE SET payload = excluded.payload, grant_id = excluded.grant_id,
                 user_code = excluded.user_code, uid = excluded.uid, expires_at = excluded.expires_at`),
    find: s('SELECT payload, expires_at FROM oidc_models WHERE model = ? AND id = ?'),
    findByUserCode: s('SELECT payload, expires_at FROM oidc_models WHERE model = ? AND user_code = ?'),
    findByUid: s('SELECT payload, expires_at FROM oidc_models WHERE model = ? AND uid = ?'),
    destroy: s('DELETE FROM oidc_models WHERE model = ? AND id = ?'),
    revokeByGrantId: s('DELETE FROM oidc_models WHERE grant_id = ?'),
    revokeGrant: s("DELETE FROM oidc_models WHERE grant_id = ? OR (model = 'Grant' AND id = ?)"),
    consume: s(`UPDATE oidc_models SET payload = json_set(payload, '$.consumed', ?)
                WHERE model = ? AND id = ? AND json_extract(payload, '$.consumed') IS NULL`),
    sweep: s('DELETE FROM oidc_models WHERE expires_at IS NOT NULL AND expires_at <= ?'),
  };
}

class SqliteAdapter implements Adapter {
  constructor(
    private readonly model: string,
    private readonly stmts: Statements,
    private readonly now: () => number,
    private readonly afterWrite: () => void,
  ) {}

  async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
    const expiresAt = typeof expiresIn === 'number' ? this.now() + expiresIn * 1000 : null;
    this.stmts.upsert.run(
      this.model,
      storedId(this.model, id),
      JSON.stringify(toStored(this.model, payload)),
      payload.grantId ?? null,
      payload.userCode ?? null,
      payload.uid ?? null,
      expiresAt,
    );
    this.afterWrite();
  }

  async find(id: string): Promise<AdapterPayload | undefined> {
    const row = this.stmts.find.get(this.model, storedId(this.model, id)) ?? this.legacyRow(id);
    const payload = this.decode(row);
    return payload && fromStored(this.model, id, payload);
  }

  /** A token stored before tokens were kept under their digest, until it expires. */
  private legacyRow(id: string): unknown {
    return mayBeLegacyTokenId(this.model, id) ? this.stmts.find.get(this.model, id) : undefined;
  }

  async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
    return this.decode(this.stmts.findByUserCode.get(this.model, userCode));
  }

  async findByUid(uid: string): Promise<AdapterPayload | undefined> {
    return this.decode(this.stmts.findByUid.get(this.model, uid));
  }

  async consume(id: string): Promise<void> {
    // One statement: of two requests racing with the same refresh token, exactly one consumes it.
    const at = Math.floor(this.now() / 1000);
    const r = this.stmts.consume.run(at, this.model, storedId(this.model, id));
    if (Number(r.changes) > 0) return;
    if (mayBeLegacyTokenId(this.model, id) && Number(this.stmts.consume.run(at, this.model, id).changes) > 0) return;
    const row = await this.find(id);
    if (!row) return vanished(this.model);
    if (REPLAY_REVOKES.has(this.model) && row.consumed !== undefined) {
      // The loser of the race is a replay (RFC 9700 §4.14.2, RFC 6749 §4.1.2): end the whole grant, as oidc-provider does for a later one.
      if (row.grantId) this.stmts.revokeGrant.run(row.grantId, row.grantId);
      throw new errors.InvalidGrant(`${this.model === 'RefreshToken' ? 'refresh token' : 'authorization code'} already used`);
    }
  }

  async destroy(id: string): Promise<void> {
    this.stmts.destroy.run(this.model, storedId(this.model, id));
    if (mayBeLegacyTokenId(this.model, id)) this.stmts.destroy.run(this.model, id);
  }

  async revokeByGrantId(grantId: string): Promise<void> {
    // Every model sharing the grant goes at once: one statement, whichever model asked.
    this.stmts.revokeByGrantId.run(grantId);
  }

  private decode(row: unknown): AdapterPayload | undefined {
    const r = row as { payload: string; expires_at: number | null } | undefined;
    if (!r) return undefined;
    if (r.expires_at !== null && r.expires_at <= this.now()) return undefined;
    return JSON.parse(r.payload) as AdapterPayload;
  }
}
