import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { GatehouseError } from '../errors.js';

/** One configured key: 32 bytes under a short id that travels with every ciphertext. */
export interface SessionKeyInput {
  readonly id: string;
  /** 32 bytes, or their base64 / base64url encoding. */
  readonly secret: string | Uint8Array;
}

const KEY_ID = /^[A-Za-z0-9_-]{1,64}$/;
const SESSION_ID = /^[A-Za-z0-9_-]{43}$/;

/**
 * The keys sessions are sealed with. The first key encrypts; every key
 * decrypts, so changing keys means prepending a new one and, once the longest
 * session has ended, dropping the old one. A ciphertext under a dropped key no
 * longer opens (GH_SESSION_INVALID).
 */
export class Keyring {
  private readonly byId: ReadonlyMap<string, Buffer>;
  readonly currentId: string;

  constructor(keys: readonly SessionKeyInput[]) {
    if (keys.length === 0) throw new RangeError('a keyring needs at least one key');
    const map = new Map<string, Buffer>();
    for (const k of keys) {
      if (!KEY_ID.test(k.id)) throw new RangeError(`key id must match ${KEY_ID.source}`);
      if (map.has(k.id)) throw new RangeError(`duplicate key id ${k.id}`);
      map.set(k.id, decodeKey(k.secret, k.id));
    }
    this.byId = map;
    this.currentId = keys[0].id;
  }

  get current(): { readonly id: string; readonly key: Buffer } {
    return { id: this.currentId, key: this.byId.get(this.currentId) as Buffer };
  }

  /** The key with this id, or undefined once it was dropped. */
  key(id: string): Buffer | undefined {
    return this.byId.get(id);
  }

  /**
   * A keyring of subkeys for one purpose (HKDF-SHA256, same ids), so the store
   * encryption and the sealed cookie never use one key for two jobs.
   */
  derive(purpose: string): Keyring {
    return new Keyring(
      [...this.byId].map(([id, key]) => ({ id, secret: Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), `gatehouse ${purpose}`, 32)) })),
    );
  }
}

function decodeKey(secret: string | Uint8Array, id: string): Buffer {
  const bytes = typeof secret === 'string' ? Buffer.from(secret, /[+/]/.test(secret) ? 'base64' : 'base64url') : Buffer.from(secret);
  if (bytes.length !== 32) throw new RangeError(`session key ${id} must be 32 bytes (base64 or base64url encoded)`);
  return bytes;
}

/** A fresh session id: 256 random bits, base64url (43 characters). */
export function newSessionId(): string {
  return randomBytes(32).toString('base64url');
}

/** Cheap shape check before any lookup, so junk cookies cost no store round trip. */
export function isSessionIdShape(value: string): boolean {
  return SESSION_ID.test(value);
}

/**
 * The store key of a session id: its SHA-256. The id has 256 bits of entropy,
 * so an unkeyed hash is enough; a store dump yields no usable cookie.
 */
export function storeKeyOf(sessionId: string): string {
  return createHash('sha256').update(sessionId).digest('base64url');
}

/** Index key of a user: a hash, so the store holds no subject in the clear. */
export function ownerKeyOf(issuer: string, subject: string): string {
  return createHash('sha256').update(`${issuer}\n${subject}`).digest('base64url');
}

/** Constant-time string equality. */
export function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

const FORMAT = 'v1';

function aad(keyId: string, storeKey: string): Buffer {
  // Binding the store key means a record copied under another key does not open.
  return Buffer.from(`gatehouse-session.${FORMAT}|${keyId}|${storeKey}`);
}

/** Encrypts a record for the store with AES-256-GCM under the current key: `v1.<kid>.<iv>.<ciphertext>.<tag>`. */
export function sealRecord(keyring: Keyring, storeKey: string, plaintext: string): string {
  const { id, key } = keyring.current;
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(aad(id, storeKey));
  const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return [FORMAT, id, iv.toString('base64url'), ct.toString('base64url'), cipher.getAuthTag().toString('base64url')].join('.');
}

/** Decrypts a stored record; anything that does not open is GH_SESSION_INVALID. */
export function openRecord(keyring: Keyring, storeKey: string, sealed: string): string {
  const parts = sealed.split('.');
  const invalid = () => new GatehouseError('GH_SESSION_INVALID', 'session could not be read');
  if (parts.length !== 5 || parts[0] !== FORMAT) throw invalid();
  const [, id, ivText, ctText, tagText] = parts;
  const key = keyring.key(id);
  if (!key) throw invalid();
  const iv = Buffer.from(ivText, 'base64url');
  const tag = Buffer.from(tagText, 'base64url');
  if (iv.length !== 12 || tag.length !== 16) throw invalid();
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: 16 });
    decipher.setAAD(aad(id, storeKey));
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(Buffer.from(ctText, 'base64url')), decipher.final()]).toString('utf8');
  } catch {
    throw invalid();
  }
}
