import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { openSqlite } from './sqlite-open.js';

test('SQLite files (password hashes, refresh tokens) are owner-only: new ones, their WAL, and existing ones opened again', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gh-sqlite-mode-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const fresh = join(dir, 'nested', 'users.sqlite');
  const db = await openSqlite(fresh);
  db.exec('CREATE TABLE t (x); INSERT INTO t VALUES (1);');
  assert.equal(statSync(fresh).mode & 0o777, 0o600);
  assert.equal(statSync(`${fresh}-wal`).mode & 0o777, 0o600);
  db.close();
  const existing = join(dir, 'old.sqlite');
  writeFileSync(existing, '', { mode: 0o644 });
  (await openSqlite(existing)).close();
  assert.equal(statSync(existing).mode & 0o777, 0o600);
});

test('a file that cannot be a database, or a path that cannot be a file, fails with the path and the reason', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gh-sqlite-bad-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const notDb = join(dir, 'users.sqlite');
  writeFileSync(notDb, 'x'.repeat(4096));
  await assert.rejects(openSqlite(notDb), new RegExp(`^Error: cannot open the SQLite file ${notDb}: ERR_SQLITE_ERROR: file is not a database`));
  await assert.rejects(openSqlite('/dev/null/users.sqlite'), /^Error: cannot open the SQLite file \/dev\/null\/users\.sqlite: (EEXIST|ENOTDIR): /);
});
