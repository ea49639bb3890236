import { chmodSync, closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import type { DatabaseSync } from 'node:sqlite';

let sqliteModule: Promise<typeof import('node:sqlite')> | undefined;

/**
 * Loads `node:sqlite` once. On Node 22/24 the module still emits an
 * ExperimentalWarning on first load; only that one warning is swallowed so an
 * operator is not told to worry about a module we chose deliberately.
 */
function loadSqlite(): Promise<typeof import('node:sqlite')> {
  sqliteModule ??= (async () => {
    const original = process.emitWarning;
    process.emitWarning = function (this: NodeJS.Process, warning: string | Error, ...rest: unknown[]) {
      const text = typeof warning === 'string' ? warning : warning.message;
      const type = typeof rest[0] === 'string' ? rest[0] : (rest[0] as { type?: string } | undefined)?.type;
      const name = typeof warning === 'string' ? type : warning.name;
      if (name === 'ExperimentalWarning' && /sqlite/i.test(text)) return;
      return (original as (...args: unknown[]) => void).call(this, warning, ...rest);
    } as typeof process.emitWarning;
    try {
      return await import('node:sqlite');
    } catch (err) {
      // Node 22.12 has node:sqlite behind a flag; 22.13 and later have it unflagged.
      throw new Error('node:sqlite is unavailable: use Node.js >= 22.13, or run Node 22.12 with --experimental-sqlite', { cause: err });
    } finally {
      process.emitWarning = original;
    }
  })();
  return sqliteModule;
}

/** Opens (creating the folder and file if needed) a SQLite database in WAL mode. */
export async function openSqlite(path: string): Promise<DatabaseSync> {
  const { DatabaseSync } = await loadSqlite();
  try {
    if (path !== ':memory:') {
      mkdirSync(dirname(path), { recursive: true });
      // Password hashes and refresh tokens live here: owner-only, like the keys file. A new file is
      // created owner-only before SQLite opens it (created by SQLite, it would be readable under the
      // usual umask until the chmod, and a process that opened it then would keep reading).
      closeSync(openSync(path, 'a', 0o600));
      chmodSync(path, 0o600);
    }
    const db = new DatabaseSync(path);
    try {
      // The first statement reads the file: one that is not a database fails here.
      db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;');
    } catch (err) {
      db.close();
      throw err;
    }
    return db;
  } catch (err) {
    // Node's message alone ("EEXIST: file already exists, mkdir '/dev/null'") does not say which file was meant.
    throw new Error(`cannot open the SQLite file ${path}: ${describeFailure(err)}`, { cause: err });
  }
}

/** fs errors begin with their code; SQLite's say what is wrong ("file is not a database") after it. */
function describeFailure(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const code = (err as NodeJS.ErrnoException).code;
  return code !== undefined && !message.startsWith(code) ? `${code}: ${message}` : message;
}
