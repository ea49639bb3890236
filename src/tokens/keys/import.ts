import { KeyObject, webcrypto } from 'node:crypto';
import { calculateJwkThumbprint, importJWK, importSPKI, importX509, type JWK } from 'jose';
import {
  algorithmFamily,
  isSupportedAlgorithm,
  keyFitsAlgorithm,
  type JwsAlgorithm,
  type KeyFamily,
  type KeyMaterial,
} from '../jwt/algorithms.js';
import type { VerificationKey } from './key-set.js';

/**
 * Key import: jose parses JWKs, SPKI and certificates (it validates shapes and
 * curves); the result is turned into a node KeyObject once so that requests
 * verify synchronously without re-importing anything.
 */

/** Public members per key type: anything else in a JWK (notably a private `d`) is never imported. */
const PUBLIC_MEMBERS: Record<string, readonly string[]> = {
  RSA: ['kty', 'n', 'e'],
  EC: ['kty', 'crv', 'x', 'y'],
  OKP: ['kty', 'crv', 'x'],
};

/** Private members of RSA, EC, OKP and oct JWKs (RFC 7518 §6). */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const;

/** The reason a key is skipped that an operator must hear of: the issuer's signing key has leaked. */
export const PRIVATE_KEY_PUBLISHED = 'publishes private key material';

/** Why a JWK was not imported, for logs; undefined result with a reason. */
export interface SkippedKey {
  readonly kid: string | undefined;
  readonly reason: string;
}

/**
 * Imports one JWK from a key set for an issuer's allow-list. Returns a reason
 * instead of a key when the JWK cannot serve (encryption key, unsupported type,
 * no allowed algorithm fits, bad parameters): one odd key must not spoil a set.
 */
export async function importVerificationJwk(
  jwk: unknown,
  allowed: readonly JwsAlgorithm[],
): Promise<VerificationKey | SkippedKey> {
  if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) return { kid: undefined, reason: 'not a JSON object' };
  const j = jwk as Record<string, unknown>;
  // A kid of another type would leave an unnamed key, which answers tokens with any kid.
  if (j.kid !== undefined && typeof j.kid !== 'string') return { kid: undefined, reason: 'kid is not a string' };
  const kid = j.kid;
  // A published private key is compromised: whoever reads the set can sign tokens with it.
  if (PRIVATE_MEMBERS.some((m) => j[m] !== undefined)) return { kid, reason: PRIVATE_KEY_PUBLISHED };
  if (j.use !== undefined && j.use !== 'sig') return { kid, reason: 'not a signature key' };
  if (j.key_ops !== undefined && !Array.isArray(j.key_ops)) return { kid, reason: 'key_ops is not an array' };
  if (Array.isArray(j.key_ops) && !j.key_ops.includes('verify')) return { kid, reason: 'key_ops excludes verify' };
  if (j.alg !== undefined && !isSupportedAlgorithm(j.alg)) return { kid, reason: 'unsupported alg' };
  const members = typeof j.kty === 'string' ? PUBLIC_MEMBERS[j.kty] : undefined;
  if (!members) return { kid, reason: 'unsupported key type' };
  const family = j.kty as KeyFamily;
  const candidates = allowed.filter((a) => algorithmFamily(a) === family && (j.alg === undefined || j.alg === a));
  if (candidates.length === 0) return { kid, reason: 'no allowed algorithm for this key' };
  const publicJwk: Record<string, unknown> = {};
  for (const m of members) if (j[m] !== undefined) publicJwk[m] = j[m];
  let material: KeyObject;
  try {
    material = await importPublic((alg) => importJWK(publicJwk as JWK, alg), candidates);
  } catch {
    return { kid, reason: 'invalid key parameters' };
  }
  const algorithms = candidates.filter((a) => keyFitsAlgorithm(a, material));
  if (algorithms.length === 0) return { kid, reason: 'key too weak or wrong curve for the allowed algorithms' };
  // The material is part of the identity: a key replaced under the same kid is a different key.
  const id = `${kid ?? ''}#${await calculateJwkThumbprint(publicJwk as JWK, 'sha256')}`;
  return { id, kid, algorithms: new Set(algorithms), material };
}

/** Imports a PEM public key (SPKI) or certificate for the issuer's asymmetric algorithms. */
export async function importPemKey(pem: string, allowed: readonly JwsAlgorithm[]): Promise<VerificationKey> {
  const text = pem.trim();
  const isCert = text.startsWith('-----BEGIN CERTIFICATE-----');
  if (!isCert && !text.startsWith('-----BEGIN PUBLIC KEY-----')) {
    throw new Error('expected a PEM public key (BEGIN PUBLIC KEY) or certificate (BEGIN CERTIFICATE)');
  }
  const asymmetric = allowed.filter((a) => algorithmFamily(a) !== 'oct');
  if (asymmetric.length === 0) throw new Error('a public key needs at least one asymmetric algorithm');
  // Only the first PEM block: a bundle would silently widen trust.
  const block = text.slice(0, text.indexOf('-----END') + (isCert ? '-----END CERTIFICATE-----' : '-----END PUBLIC KEY-----').length);
  const material = await importPublic((alg) => (isCert ? importX509(block, alg) : importSPKI(block, alg)), asymmetric);
  const algorithms = asymmetric.filter((a) => keyFitsAlgorithm(a, material));
  if (algorithms.length === 0) throw new Error(`the key does not fit any of the algorithms ${asymmetric.join(', ')}`);
  const jwk = material.export({ format: 'jwk' });
  const id = `#${await calculateJwkThumbprint(jwk as JWK, 'sha256')}`;
  return { id, kid: undefined, algorithms: new Set(algorithms), material };
}

/** Wraps an HMAC secret as a key. The caller has checked its length. */
export function secretKey(secret: Buffer, allowed: readonly JwsAlgorithm[]): VerificationKey {
  const algorithms = allowed.filter((a) => keyFitsAlgorithm(a, secret));
  if (algorithms.length === 0) throw new Error('an HMAC secret needs an HS256, HS384 or HS512 algorithm and at least their hash\'s length');
  return { id: 'secret', kid: undefined, algorithms: new Set(algorithms), material: secret as KeyMaterial };
}

/**
 * jose binds an imported key to one algorithm (WebCrypto keys are); try the
 * candidates in order and keep the first that imports. The KeyObject made from
 * it serves every algorithm of its family that `keyFitsAlgorithm` accepts.
 */
async function importPublic(load: (alg: string) => Promise<unknown>, candidates: readonly JwsAlgorithm[]): Promise<KeyObject> {
  let lastError: unknown;
  for (const alg of candidates) {
    try {
      const key = await load(alg);
      const obj = key instanceof KeyObject ? key : KeyObject.from(key as webcrypto.CryptoKey);
      if (obj.type !== 'public') throw new Error('not a public key');
      return obj;
    } catch (err) {
      lastError = err;
    }
  }
  throw lastError instanceof Error ? lastError : new Error('key could not be imported');
}
