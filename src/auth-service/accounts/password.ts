import { randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';

/** scrypt cost parameters; stored with every hash so they can be raised later without breaking old hashes. */
export interface ScryptParams {
  readonly N: number;
  readonly r: number;
  readonly p: number;
  readonly keyLength: number;
}

/**
 * OWASP's scrypt floor in the form that needs least memory of its listed
 * equivalents: N=2^15, r=8, p=3 (32 MiB per hash, about 150 ms of CPU here)
 * instead of N=2^17, r=8, p=1 (128 MiB, about 260 ms). Hashes made with older
 * defaults keep their own parameters and still verify.
 */
export const DEFAULT_SCRYPT: ScryptParams = { N: 2 ** 15, r: 8, p: 3, keyLength: 32 };

const MAX_PASSWORD_BYTES = 1024;

function scrypt(password: string, salt: Buffer, params: ScryptParams): Promise<Buffer> {
  const options: ScryptOptions = { N: params.N, r: params.r, p: params.p, maxmem: 256 * params.N * params.r + 1024 * 1024 };
  return new Promise((resolve, reject) => {
    scryptCb(password.normalize('NFKC'), salt, params.keyLength, options, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

/** Hashes a password as `scrypt$N$r$p$salt$hash` (salt and hash base64url). */
export async function hashPassword(password: string, params: ScryptParams = DEFAULT_SCRYPT): Promise<string> {
  if (password.length === 0) throw new Error('empty password');
  if (Buffer.byteLength(password, 'utf8') > MAX_PASSWORD_BYTES) throw new Error('password too long');
  const salt = randomBytes(16);
  const hash = await scrypt(password, salt, params);
  return ['scrypt', params.N, params.r, params.p, salt.toString('base64url'), hash.toString('base64url')].join('$');
}

/**
 * Checks a password against a stored hash in constant time. Returns false for
 * a malformed hash rather than throwing, so a damaged row cannot be told apart
 * from a wrong password.
 */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [N, r, p] = parts.slice(1, 4).map(Number) as [number, number, number];
  // Bounds keep a tampered row from turning one login into a memory or CPU bomb.
  if (![N, r, p].every((n) => Number.isInteger(n) && n > 0) || N < 2 || N > 2 ** 20 || (N & (N - 1)) !== 0 || r > 32 || p > 16) return false;
  const salt = Buffer.from(parts[4] as string, 'base64url');
  const expected = Buffer.from(parts[5] as string, 'base64url');
  if (expected.length < 16 || Buffer.byteLength(password, 'utf8') > MAX_PASSWORD_BYTES) {
    // Still do the work so an oversized password costs the same as a wrong one.
    await scrypt('x', salt, { N, r, p, keyLength: 32 });
    return false;
  }
  try {
    const actual = await scrypt(password, salt, { N, r, p, keyLength: expected.length });
    return timingSafeEqual(actual, expected);
  } catch {
    return false;
  }
}
