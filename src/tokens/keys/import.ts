import { createHash, createPublicKey, X509Certificate, type JsonWebKey, type KeyObject } from 'node:crypto';
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
 * Key import, synchronous, with node:crypto: it parses JWKs, SPKI and
 * certificates and checks them (an EC point must lie on its curve, an OKP key
 * must have its curve's length): the native checks that WebCrypto's import,
 * jose's path, runs as well. Synchronous, so that a `publicKey` file that does
 * not import fails when the verifier is built, where the caller (the gateway's
 * start and reload, a service building the kit's verifier) sees it; with jose
 * it failed later, asynchronously, and the kit answered 503 for good. Each key
 * becomes a KeyObject once, so requests verify without importing anything.
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

/**
 * Ed448 (RFC 8037 EdDSA on curve448): not verified. jose, which Gatehouse's
 * own authorization service signs with, has no Ed448 either, and RFC 9864 gives
 * it a fully-specified name of its own rather than `EdDSA`. Reported, unlike
 * other keys of an algorithm not allowed: the issuer's allow-list says EdDSA,
 * so the operator expects the key to serve.
 */
export const ED448_UNSUPPORTED = 'is an Ed448 key, and Ed448 is not supported (EdDSA verifies Ed25519 keys only)';

/** Why a JWK was not imported, for logs. */
export interface SkippedKey {
  readonly kid: string | undefined;
  readonly reason: string;
  /**
   * The operator must hear of it: a leaked private key, or a key the issuer
   * means to sign with that cannot serve. Other skipped keys (encryption keys,
   * other algorithms) are routine.
   */
  readonly reported?: boolean;
}

/** At most this many skipped keys are named in one message; a set of thousands must not make a log line of them. */
const MAX_NAMED_KEYS = 10;

/** Skipped keys in words for a log line or an error: `kid a not a signature key; kid (none) unsupported key type`. */
export function describeSkipped(skipped: readonly SkippedKey[]): string {
  const named = skipped.slice(0, MAX_NAMED_KEYS).map((k) => `kid ${k.kid ?? '(none)'} ${k.reason}`);
  if (skipped.length > MAX_NAMED_KEYS) named.push(`and ${skipped.length - MAX_NAMED_KEYS} more`);
  return named.join('; ');
}

/**
 * Imports one JWK from a key set for an issuer's allow-list. Returns a reason
 * instead of a key when the JWK cannot serve (encryption key, unsupported type,
 * no allowed algorithm fits, bad parameters): one odd key must not spoil a set.
 */
export function importVerificationJwk(jwk: unknown, allowed: readonly JwsAlgorithm[]): VerificationKey | SkippedKey {
  if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) return { kid: undefined, reason: 'not a JSON object' };
  const j = jwk as Record<string, unknown>;
  // A kid of another type would leave an unnamed key, which answers tokens with any kid.
  if (j.kid !== undefined && typeof j.kid !== 'string') return { kid: undefined, reason: 'kid is not a string' };
  const kid = j.kid;
  // A published private key is compromised: whoever reads the set can sign tokens with it.
  if (PRIVATE_MEMBERS.some((m) => j[m] !== undefined)) return { kid, reason: PRIVATE_KEY_PUBLISHED, reported: true };
  if (j.use !== undefined && j.use !== 'sig') return { kid, reason: 'not a signature key' };
  if (j.key_ops !== undefined && !Array.isArray(j.key_ops)) return { kid, reason: 'key_ops is not an array' };
  if (Array.isArray(j.key_ops) && !j.key_ops.includes('verify')) return { kid, reason: 'key_ops excludes verify' };
  if (j.alg !== undefined && !isSupportedAlgorithm(j.alg)) return { kid, reason: 'unsupported alg' };
  const members = typeof j.kty === 'string' ? PUBLIC_MEMBERS[j.kty] : undefined;
  if (!members) return { kid, reason: 'unsupported key type' };
  const family = j.kty as KeyFamily;
  const candidates = allowed.filter((a) => algorithmFamily(a) === family && (j.alg === undefined || j.alg === a));
  if (candidates.length === 0) return { kid, reason: 'no allowed algorithm for this key' };
  if (family === 'OKP' && j.crv === 'Ed448') return { kid, reason: ED448_UNSUPPORTED, reported: true };
  const publicJwk: Record<string, unknown> = {};
  for (const m of members) if (j[m] !== undefined) publicJwk[m] = j[m];
  let material: KeyObject;
  try {
    material = createPublicKey({ key: publicJwk as JsonWebKey, format: 'jwk' });
  } catch {
    return { kid, reason: 'invalid key parameters' };
  }
  const algorithms = candidates.filter((a) => keyFitsAlgorithm(a, material));
  if (algorithms.length === 0) return { kid, reason: 'key too weak or wrong curve for the allowed algorithms' };
  // The material is part of the identity: a key replaced under the same kid is a different key.
  return { id: `${kid ?? ''}#${jwkThumbprint(publicJwk, members)}`, kid, algorithms: new Set(algorithms), material };
}

/** Imports a PEM public key (SPKI) or certificate for the issuer's asymmetric algorithms. Throws saying why it cannot. */
export function importPemKey(pem: string, allowed: readonly JwsAlgorithm[]): VerificationKey {
  const text = pem.trim();
  const isCert = text.startsWith('-----BEGIN CERTIFICATE-----');
  if (!isCert && !text.startsWith('-----BEGIN PUBLIC KEY-----')) {
    throw new Error('expected a PEM public key (BEGIN PUBLIC KEY) or certificate (BEGIN CERTIFICATE)');
  }
  const asymmetric = allowed.filter((a) => algorithmFamily(a) !== 'oct');
  if (asymmetric.length === 0) throw new Error('a public key needs at least one asymmetric algorithm');
  // Only the first PEM block: a bundle would silently widen trust.
  const block = text.slice(0, text.indexOf('-----END') + (isCert ? '-----END CERTIFICATE-----' : '-----END PUBLIC KEY-----').length);
  let material: KeyObject;
  try {
    material = isCert ? new X509Certificate(block).publicKey : createPublicKey({ key: block, format: 'pem' });
  } catch {
    throw new Error(isCert ? 'the certificate does not parse' : 'the public key does not parse');
  }
  if (material.asymmetricKeyType === 'ed448') throw new Error(`the key ${ED448_UNSUPPORTED}`);
  const algorithms = asymmetric.filter((a) => keyFitsAlgorithm(a, material));
  if (algorithms.length === 0) throw new Error(`the key does not fit any of the algorithms ${asymmetric.join(', ')}`);
  // A PEM key has no kid and is the only key of its set; any stable digest of it serves as its identity.
  const id = `#${createHash('sha256').update(material.export({ format: 'der', type: 'spki' })).digest('base64url')}`;
  return { id, kid: undefined, algorithms: new Set(algorithms), material };
}

/** Wraps an HMAC secret as a key. The caller has checked its length. */
export function secretKey(secret: Buffer, allowed: readonly JwsAlgorithm[]): VerificationKey {
  const algorithms = allowed.filter((a) => keyFitsAlgorithm(a, secret));
  if (algorithms.length === 0) throw new Error('an HMAC secret needs an HS256, HS384 or HS512 algorithm and at least their hash\'s length');
  return { id: 'secret', kid: undefined, algorithms: new Set(algorithms), material: secret as KeyMaterial };
}

/**
 * RFC 7638 thumbprint (SHA-256, base64url) of a public JWK: its required
 * members, which are exactly PUBLIC_MEMBERS, in lexicographic order. Called
 * once the key imported, so every member is there and a string.
 */
function jwkThumbprint(publicJwk: Record<string, unknown>, members: readonly string[]): string {
  const canonical: Record<string, unknown> = {};
  for (const m of [...members].sort()) canonical[m] = publicJwk[m];
  return createHash('sha256').update(JSON.stringify(canonical)).digest('base64url');
}
