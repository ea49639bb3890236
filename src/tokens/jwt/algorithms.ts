import { constants, createHmac, timingSafeEqual, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { p1363ToDer } from './ecdsa-der.js';

/**
 * The JWS algorithms Gatehouse verifies, each with the key it needs and how to
 * check a signature with node:crypto against a key imported once (keys/import.ts).
 * The per-request check runs here because a synchronous node:crypto verify
 * against a pre-imported KeyObject costs far less than jose's asynchronous
 * WebCrypto path (see bench/jwt-verify.ts for the figures).
 */
export type JwsAlgorithm =
  | 'RS256' | 'RS384' | 'RS512'
  | 'PS256' | 'PS384' | 'PS512'
  | 'ES256' | 'ES384' | 'ES512'
  | 'EdDSA' | 'Ed25519'
  | 'HS256' | 'HS384' | 'HS512';

export type KeyFamily = 'RSA' | 'EC' | 'OKP' | 'oct';

interface AlgorithmSpec {
  readonly family: KeyFamily;
  /** Digest given to node:crypto; null for EdDSA, which hashes internally. */
  readonly digest: string | null;
  /** EC curve (node's asymmetricKeyDetails.namedCurve) or OKP type the key must have. */
  readonly curves?: readonly string[];
  readonly pss?: boolean;
  /** Exact signature length in bytes, when fixed by the algorithm. */
  readonly signatureBytes?: number;
}

const SPECS: Readonly<Record<JwsAlgorithm, AlgorithmSpec>> = {
  RS256: { family: 'RSA', digest: 'sha256' },
  RS384: { family: 'RSA', digest: 'sha384' },
  RS512: { family: 'RSA', digest: 'sha512' },
  PS256: { family: 'RSA', digest: 'sha256', pss: true },
  PS384: { family: 'RSA', digest: 'sha384', pss: true },
  PS512: { family: 'RSA', digest: 'sha512', pss: true },
  ES256: { family: 'EC', digest: 'sha256', curves: ['prime256v1'], signatureBytes: 64 },
  ES384: { family: 'EC', digest: 'sha384', curves: ['secp384r1'], signatureBytes: 96 },
  ES512: { family: 'EC', digest: 'sha512', curves: ['secp521r1'], signatureBytes: 132 },
  // Ed25519 only: Ed448 keys are not imported (see ED448_UNSUPPORTED in keys/import.ts).
  EdDSA: { family: 'OKP', digest: null, curves: ['ed25519'], signatureBytes: 64 },
  Ed25519: { family: 'OKP', digest: null, curves: ['ed25519'], signatureBytes: 64 },
  HS256: { family: 'oct', digest: 'sha256', signatureBytes: 32 },
  HS384: { family: 'oct', digest: 'sha384', signatureBytes: 48 },
  HS512: { family: 'oct', digest: 'sha512', signatureBytes: 64 },
};

/** Smallest RSA modulus accepted (RFC 7518 §3.3; jose enforces the same). */
const MIN_RSA_BITS = 2048;
/**
 * Why an HMAC secret of `secretBytes` cannot serve `algorithms`, or undefined when it can.
 * RFC 7518 §3.2: the key must be at least as long as the hash output, so 256 bits for
 * HS256, 384 for HS384 and 512 for HS512; the longest of the allowed ones decides.
 */
export function hmacSecretProblem(secretBytes: number, algorithms: readonly unknown[]): string | undefined {
  let need = SPECS.HS256.signatureBytes!;
  let strictest: JwsAlgorithm = 'HS256';
  for (const alg of algorithms) {
    const bytes = isSupportedAlgorithm(alg) && SPECS[alg].family === 'oct' ? SPECS[alg].signatureBytes! : 0;
    if (bytes > need) [need, strictest] = [bytes, alg as JwsAlgorithm];
  }
  return secretBytes >= need ? undefined : `an HMAC secret for ${strictest} must be at least ${need * 8} bits (${need} bytes)`;
}

export function isSupportedAlgorithm(alg: unknown): alg is JwsAlgorithm {
  return typeof alg === 'string' && Object.hasOwn(SPECS, alg);
}

export function algorithmFamily(alg: JwsAlgorithm): KeyFamily {
  return SPECS[alg].family;
}

/** Material a signature is checked against: an asymmetric public key or an HMAC secret. */
export type KeyMaterial = KeyObject | Buffer;

/**
 * Whether `key` can verify `alg`: right key type, right curve, big enough.
 * Checked once per key and algorithm when keys load, never per request.
 */
export function keyFitsAlgorithm(alg: JwsAlgorithm, key: KeyMaterial): boolean {
  const spec = SPECS[alg];
  if (Buffer.isBuffer(key)) return spec.family === 'oct' && key.length >= spec.signatureBytes!;
  if (spec.family === 'oct' || key.type !== 'public') return false;
  const type = key.asymmetricKeyType;
  switch (spec.family) {
    case 'RSA':
      // An RSA-PSS-only key (id-RSASSA-PSS) may sign only PSS.
      if (type === 'rsa-pss') return spec.pss === true && (key.asymmetricKeyDetails?.modulusLength ?? 0) >= MIN_RSA_BITS;
      return type === 'rsa' && (key.asymmetricKeyDetails?.modulusLength ?? 0) >= MIN_RSA_BITS;
    case 'EC':
      return type === 'ec' && spec.curves!.includes(key.asymmetricKeyDetails?.namedCurve ?? '');
    case 'OKP':
      return spec.curves!.includes(type ?? '');
  }
}

const modulusBytes = new WeakMap<KeyObject, number>();

/**
 * The byte length of an RSA key's modulus, read once per key (keys are imported once and reused):
 * `asymmetricKeyDetails` builds a new object on every read, about 1 µs on Node 24.
 */
function rsaModulusBytes(key: KeyObject): number {
  let bytes = modulusBytes.get(key);
  if (bytes === undefined) {
    bytes = Math.ceil((key.asymmetricKeyDetails?.modulusLength ?? 0) / 8);
    modulusBytes.set(key, bytes);
  }
  return bytes;
}

/**
 * Checks one signature. `signingInput` is the ASCII `header.payload` bytes.
 * Returns false for any mismatch, including malformed signatures; never throws
 * on attacker-controlled input.
 */
export function verifySignature(alg: JwsAlgorithm, key: KeyMaterial, signingInput: Buffer, signature: Buffer): boolean {
  const spec = SPECS[alg];
  if (spec.signatureBytes !== undefined && signature.length !== spec.signatureBytes) {
    return false;
  }
  if (spec.family === 'oct') {
    if (!Buffer.isBuffer(key)) return false;
    const mac = createHmac(spec.digest!, key).update(signingInput).digest();
    return timingSafeEqual(mac, signature);
  }
  if (Buffer.isBuffer(key)) return false;
  // Exactly the modulus length (RFC 8017 §8.1.2, §8.2.2): OpenSSL's PSS check also takes a
  // signature one byte shorter when the genuine one starts with 0x00, a second string for one token.
  if (spec.family === 'RSA' && signature.length !== rsaModulusBytes(key)) return false;
  try {
    if (spec.family === 'EC') {
      // JWS carries ECDSA signatures as raw r||s (IEEE P1363); see p1363ToDer for why it becomes DER here.
      return cryptoVerify(spec.digest, signingInput, key, p1363ToDer(signature));
    }
    if (spec.pss) {
      return cryptoVerify(
        spec.digest,
        signingInput,
        { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST },
        signature,
      );
    }
    return cryptoVerify(spec.digest, signingInput, key, signature);
  } catch {
    // OpenSSL rejects some malformed inputs by throwing rather than returning false.
    return false;
  }
}
