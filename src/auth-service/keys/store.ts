import { generateKeyPairSync, randomBytes, type JsonWebKey } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { SigningAlgorithm } from '../config-schema.js';

/** One signing key and its schedule. Times are epoch seconds. */
export interface SigningKeyRecord {
  readonly kid: string;
  readonly alg: SigningAlgorithm;
  /** Private JWK (with `kid`, `alg`, `use: sig`). */
  readonly jwk: JsonWebKey & { kid: string; alg: string; use: 'sig' };
  readonly createdAt: number;
  /** From this time on the key signs (the newest such key wins). */
  readonly activateAt: number;
  /** From this time on the key is no longer published; set when a successor is rotated in. */
  readonly retireAt?: number;
}

export interface KeyFile {
  readonly version: 1;
  readonly keys: readonly SigningKeyRecord[];
}

/** Creates a fresh private key for `alg`, published from `now` and signing from `activateAt`. */
export function generateSigningKey(alg: SigningAlgorithm, now: number, activateAt = now): SigningKeyRecord {
  const pair =
    alg === 'RS256'
      ? generateKeyPairSync('rsa', { modulusLength: 2048 })
      : alg === 'EdDSA'
        ? generateKeyPairSync('ed25519')
        : generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const kid = randomBytes(12).toString('base64url');
  const jwk = { ...pair.privateKey.export({ format: 'jwk' }), kid, alg, use: 'sig' as const };
  return { kid, alg, jwk, createdAt: now, activateAt };
}

/** Reads the key file; undefined when it does not exist yet. */
export async function readKeyFile(path: string): Promise<KeyFile | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const parsed = JSON.parse(text) as KeyFile;
  if (parsed.version !== 1 || !Array.isArray(parsed.keys)) throw new Error(`unsupported key file format: ${path}`);
  return parsed;
}

/** Writes atomically (temp file + rename) with mode 0600: the file holds private keys. */
export async function writeKeyFile(path: string, file: KeyFile): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(tmp, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600 });
  await rename(tmp, path);
}

/** Loads the keys, storing one active key on first start. */
export async function loadOrCreateKeys(repo: { read(): Promise<KeyFile | undefined>; create(file: KeyFile): Promise<KeyFile> }, alg: SigningAlgorithm, now: number): Promise<KeyFile> {
  const existing = await repo.read();
  if (existing && existing.keys.length > 0) return existing;
  return repo.create({ version: 1, keys: [generateSigningKey(alg, now)] });
}

/** The key that signs at `now`: the most recently activated one that is not retired. */
export function activeKey(file: KeyFile, now: number): SigningKeyRecord {
  const candidates = publishedKeys(file, now).filter((k) => k.activateAt <= now);
  const pool = candidates.length > 0 ? candidates : publishedKeys(file, now);
  const best = [...pool].sort((a, b) => b.activateAt - a.activateAt || b.createdAt - a.createdAt)[0];
  if (!best) throw new Error('no usable signing key');
  return best;
}

/**
 * The algorithm the keys sign with once every scheduled key has taken over: the
 * newest pending key's, else the active key's. Keys are made with `signing.alg`
 * only when created or rotated, so after the config changes it this differs until
 * a rotation applies the change.
 */
export function eventualAlgorithm(file: KeyFile, now: number): SigningAlgorithm {
  const pending = publishedKeys(file, now).filter((k) => k.activateAt > now);
  const newest = pending.sort((a, b) => b.activateAt - a.activateAt || b.createdAt - a.createdAt)[0];
  return (newest ?? activeKey(file, now)).alg;
}

/** Keys in the JWKS at `now`: every key not yet retired, including ones waiting to activate. */
export function publishedKeys(file: KeyFile, now: number): SigningKeyRecord[] {
  return file.keys.filter((k) => k.retireAt === undefined || k.retireAt > now);
}
