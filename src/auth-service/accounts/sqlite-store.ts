import { randomUUID } from 'node:crypto';
import type { DatabaseSync } from 'node:sqlite';
import { openSqlite } from '../sqlite-open.js';
import { normalizeUsername, type Account, type AccountStore } from './store.js';

interface Row {
  id: string;
  username: string;
  password_hash: string;
  created_at: number;
  updated_at: number;
}

const toAccount = (r: Row): Account => ({ id: r.id, username: r.username, createdAt: r.created_at, updatedAt: r.updated_at });

/** Accounts in a SQLite file (`node:sqlite`); survives restarts, needs no setup. */
export class SqliteAccountStore implements AccountStore {
  private constructor(
    private readonly db: DatabaseSync,
    private readonly now: () => number,
  ) {}

  static async open(path: string, opts: { now?: () => number } = {}): Promise<SqliteAccountStore> {
    const db = await openSqlite(path);
    db.exec(`CREATE TABLE IF NOT EXISTS accounts (
      id TEXT PRIMARY KEY,
      username TEXT NOT NULL UNIQUE,
      password_hash TEXT NOT NULL,
      created_at INTEGER NOT NULL,
      updated_at INTEGER NOT NULL
    )`);
    return new SqliteAccountStore(db, opts.now ?? Date.now);
  }

  async findById(id: string): Promise<Account | undefined> {
    const row = this.db.prepare('SELECT * FROM accounts WHERE id = ?').get(id) as Row | undefined;
    return row ? toAccount(row) : undefined;
  }

  async findForLogin(username: string): Promise<{ account: Account; passwordHash: string } | undefined> {
    let name: string;
    try {
      name = normalizeUsername(username);
    } catch {
      return undefined;
    }
    const row = this.db.prepare('SELECT * FROM accounts WHERE username = ?').get(name) as Row | undefined;
    return row ? { account: toAccount(row), passwordHash: row.password_hash } : undefined;
  }

  async add(username: string, passwordHash: string): Promise<Account> {
    const name = normalizeUsername(username);
    const t = Math.floor(this.now() / 1000);
    const id = randomUUID();
    try {
      this.db.prepare('INSERT INTO accounts (id, username, password_hash, created_at, updated_at) VALUES (?, ?, ?, ?, ?)').run(id, name, passwordHash, t, t);
    } catch (err) {
      if (/UNIQUE/.test(String(err))) throw new Error(`user ${name} already exists`, { cause: err });
      throw err;
    }
    return { id, username: name, createdAt: t, updatedAt: t };
  }

  async setPassword(username: string, passwordHash: string): Promise<boolean> {
    const t = Math.floor(this.now() / 1000);
    const r = this.db.prepare('UPDATE accounts SET password_hash = ?, updated_at = ? WHERE username = ?').run(passwordHash, t, normalizeUsername(username));
    return Number(r.changes) > 0;
  }

  async remove(username: string): Promise<boolean> {
    const r = this.db.prepare('DELETE FROM accounts WHERE username = ?').run(normalizeUsername(username));
    return Number(r.changes) > 0;
  }

  async list(): Promise<Account[]> {
    return (this.db.prepare('SELECT * FROM accounts ORDER BY username').all() as unknown as Row[]).map(toAccount);
  }

  async close(): Promise<void> {
    if (this.db.isOpen) this.db.close();
  }
}
