/**
 * Keys that do not change while the process runs: a `publicKey` file or an
 * HMAC `secret`. The file is read and imported synchronously when the verifier
 * is built, so a missing file, or one that does not import (garbage, a private
 * key, a key that fits no allowed algorithm), fails there with its path, not at
 * the first request: a service built on the kit has no start step that would
 * see a failure later, and would answer 503 forever.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { hmacSecretProblem, type JwsAlgorithm } from '../jwt/algorithms.js';
import { describeSkipped, importPemKey, importVerificationJwk, PRIVATE_KEY_PUBLISHED, secretKey, type SkippedKey } from './import.js';
import { KeySet, type VerificationKey } from './key-set.js';

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

/**
 * Imports a `publicKey` file (PEM SPKI, PEM certificate, JWK or JWK Set JSON) as
 * read by {@link readPublicKeyFile}; throws naming the file (never key material).
 */
export function importPublicKeyFile({ file, text }: PublicKeyFile, algorithms: readonly JwsAlgorithm[]): KeySet {
  try {
    return parsePublicKeyText(text, algorithms);
  } catch (err) {
    throw new Error(`public key file ${file}: ${err instanceof Error ? err.message : 'invalid'}`, { cause: err });
  }
}

/** Wraps an HMAC secret. Config enforces its length; checked again because the kit takes options directly. */
export function loadSecret(secret: string, algorithms: readonly JwsAlgorithm[]): KeySet {
  const bytes = Buffer.from(secret, 'utf8');
  const short = hmacSecretProblem(bytes.length, algorithms);
  if (short !== undefined) throw new Error(short);
  return new KeySet([secretKey(bytes, algorithms)]);
}

function parsePublicKeyText(text: string, algorithms: readonly JwsAlgorithm[]): KeySet {
  const trimmed = text.trim();
  if (trimmed.startsWith('-----BEGIN')) {
    if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(trimmed)) throw new Error('holds a private key; give the public key');
    return new KeySet([importPemKey(trimmed, algorithms)]);
  }
  let json: unknown;
  try {
    json = JSON.parse(trimmed);
  } catch {
    throw new Error('neither PEM nor JSON');
  }
  const list = isJwkSet(json) ? json.keys : [json];
  const keys: VerificationKey[] = [];
  const skipped: SkippedKey[] = [];
  for (const jwk of list) {
    const imported = importVerificationJwk(jwk, algorithms);
    if ('material' in imported) keys.push(imported);
    else if (imported.reason === PRIVATE_KEY_PUBLISHED) throw new Error('holds a private key; give the public key');
    else skipped.push(imported);
  }
  if (keys.length === 0) {
    const why = skipped.length > 0 ? ` (${describeSkipped(skipped)})` : '';
    throw new Error(`no usable verification key for the configured algorithms${why}`);
  }
  return new KeySet(keys);
}

function isJwkSet(value: unknown): value is { keys: unknown[] } {
  return typeof value === 'object' && value !== null && Array.isArray((value as { keys?: unknown }).keys);
}
