import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { hmacSecretProblem, type JwsAlgorithm } from '../jwt/algorithms.js';
import { importPemKey, importVerificationJwk, secretKey } from './import.js';
import { KeySet, type VerificationKey } from './key-set.js';

/**
 * Keys that do not change while the process runs: a `publicKey` file or an
 * HMAC `secret`. The file is read synchronously when the verifier is built, so
 * a missing or unreadable file fails at startup with its path, not at the first
 * request.
 */
export interface StaticKeySource {
  readonly kind: 'static';
  /** Resolves with the keys, or rejects with a message naming the file (never key material). */
  readonly keys: Promise<KeySet>;
}

/** A `publicKey` file as read: its resolved path and its text. */
export interface PublicKeyFile {
  readonly file: string;
  readonly text: string;
}

/** Reads a `publicKey` file synchronously; throws naming the path when it cannot. */
export function readPublicKeyFile(path: string, baseDir?: string): PublicKeyFile {
  const file = resolve(baseDir ?? process.cwd(), path);
  try {
    return { file, text: readFileSync(file, 'utf8') };
  } catch (err) {
    throw new Error(`cannot read public key file ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`, { cause: err });
  }
}

/** Imports a `publicKey` file (PEM SPKI, PEM certificate, JWK or JWK Set JSON) as read by {@link readPublicKeyFile}. */
export function importPublicKeyFile({ file, text }: PublicKeyFile, algorithms: readonly JwsAlgorithm[]): StaticKeySource {
  const keys = parsePublicKeyText(text, algorithms).catch((err: unknown) => {
    throw new Error(`public key file ${file}: ${err instanceof Error ? err.message : 'invalid'}`, { cause: err });
  });
  // Readiness and verify() observe the failure; keep it from surfacing as an unhandled rejection meanwhile.
  keys.catch(() => {});
  return { kind: 'static', keys };
}

/** Wraps an HMAC secret. Config enforces its length; checked again because the kit takes options directly. */
export function loadSecret(secret: string, algorithms: readonly JwsAlgorithm[]): StaticKeySource {
  const bytes = Buffer.from(secret, 'utf8');
  const short = hmacSecretProblem(bytes.length, algorithms);
  if (short !== undefined) throw new Error(short);
  return { kind: 'static', keys: Promise.resolve(new KeySet([secretKey(bytes, algorithms)])) };
}

async function parsePublicKeyText(text: string, algorithms: readonly JwsAlgorithm[]): Promise<KeySet> {
  const trimmed = text.trim();
  if (trimmed.startsWith('-----BEGIN')) {
    if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(trimmed)) throw new Error('holds a private key; give the public key');
    return new KeySet([await importPemKey(trimmed, algorithms)]);
  }
  let json: unknown;
  try {
    json = JSON.parse(trimmed);
  } catch {
    throw new Error('neither PEM nor JSON');
  }
  const list = isJwkSet(json) ? json.keys : [json];
  const keys: VerificationKey[] = [];
  for (const jwk of list) {
    if (typeof jwk === 'object' && jwk !== null && 'd' in jwk) throw new Error('holds a private key; give the public key');
    const imported = await importVerificationJwk(jwk, algorithms);
    if ('material' in imported) keys.push(imported);
  }
  if (keys.length === 0) throw new Error('no usable verification key for the configured algorithms');
  return new KeySet(keys);
}

function isJwkSet(value: unknown): value is { keys: unknown[] } {
  return typeof value === 'object' && value !== null && Array.isArray((value as { keys?: unknown }).keys);
}
