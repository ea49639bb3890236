import { CompactEncrypt, compactDecrypt } from 'jose';
import { GatehouseError } from '../errors.js';
import { BoundedMap } from './bounded-map.js';
import { clearCookie, serializeCookie, type CookieAttributes } from './cookies.js';
import type { Keyring } from './crypto.js';

export interface SealedCookieOptions {
  /** Keys for this purpose only (`keyring.derive('sealed-cookie')`). */
  readonly keyring: Keyring;
  /** Base name; chunks are `<name>.0`, `<name>.1`, … Default `__Host-gh_s`. */
  readonly name?: string;
  /** Largest value per cookie, under the ~4096-byte per-cookie limit with name and attributes. Default 3800. */
  readonly chunkBytes?: number;
  /**
   * Most chunks; a bigger session is refused when sealing and never reassembled.
   * Default 3: 3 × 3800 bytes leaves about 4.9 KB of the 16 KiB a request's
   * headers may take (`limits.maxHeaderBytes`, and the Cookie header bound in
   * `cookies.ts`) for the request line, other headers and other cookies. Five
   * chunks could never be sent back at all (431).
   */
  readonly maxChunks?: number;
  /** Cookie attributes (tests of the `Secure` rule only). */
  readonly attributes?: Omit<CookieAttributes, 'maxAgeSeconds'>;
  /**
   * Opened sessions kept in memory, keyed by the whole JWE: the same ciphertext
   * always opens to the same plaintext, so a hit skips the decryption. Default 0 (off).
   */
  readonly cacheEntries?: number;
}

const TYP = 'gh-session+jwe';

/** The authentication tag of a compact JWE: its last 22 characters (16 bytes, base64url). */
function tagOf(jweOrLastChunk: string): string {
  return jweOrLastChunk.slice(-22);
}

/** True when the chunks, joined, are exactly `jwe`, without building the joined copy. */
function sameJwe(jwe: string, parts: readonly string[]): boolean {
  let at = 0;
  for (const part of parts) {
    // Slice and ===, not startsWith(part, at): V8 runs the latter a character at a time (~17 µs for 3 KB).
    if (jwe.slice(at, at + part.length) !== part) return false;
    at += part.length;
  }
  return at === jwe.length;
}
const invalid = () => new GatehouseError('GH_SESSION_INVALID', 'session cookie could not be read');

/**
 * Stateless sessions: the session object sealed as a JWE (`dir` / `A256GCM`,
 * key id in the protected header) and split over several cookies. Chunk 0 starts
 * with the chunk count (`3~…`), so a missing chunk is detected before any
 * decryption; tampering or truncation fails the GCM tag; a key dropped from the
 * keyring fails the lookup. Every failure is GH_SESSION_INVALID.
 */
export class CookieSealer {
  readonly name: string;
  private readonly keyring: Keyring;
  private readonly chunkBytes: number;
  private readonly maxChunks: number;
  private readonly attributes: Omit<CookieAttributes, 'maxAgeSeconds'>;
  // Built once: these are looked up on every request.
  private readonly chunkNames: readonly string[];
  private readonly chunkPrefix: string;
  // Keyed by the JWE's GCM tag (its last 22 characters) rather than the whole ~3 KB JWE, which
  // every lookup would have to join and hash; a hit still requires the exact JWE (compared in place).
  private readonly opened: BoundedMap<string, { readonly jwe: string; readonly value: Record<string, unknown> }> | undefined;

  constructor(opts: SealedCookieOptions) {
    this.opened = opts.cacheEntries ? new BoundedMap(opts.cacheEntries) : undefined;
    this.keyring = opts.keyring;
    this.name = opts.name ?? '__Host-gh_s';
    this.chunkBytes = opts.chunkBytes ?? 3800;
    this.maxChunks = opts.maxChunks ?? 3;
    this.attributes = opts.attributes ?? {};
    if (this.maxChunks < 1 || this.maxChunks > 9) throw new RangeError('maxChunks must be 1..9');
    if (this.chunkBytes < 64) throw new RangeError('chunkBytes too small');
    this.chunkPrefix = `${this.name}.`;
    this.chunkNames = Array.from({ length: 10 }, (_, i) => `${this.chunkPrefix}${i}`);
  }

  /** True for any of this sealer's chunk names (to strip them from forwarded requests). */
  isOwnCookie(name: string): boolean {
    if (name.length !== this.chunkPrefix.length + 1 || !name.startsWith(this.chunkPrefix)) return false;
    const digit = name.charCodeAt(name.length - 1);
    return digit >= 48 && digit <= 57;
  }

  /**
   * Set-Cookie values carrying `session`, plus deletions of chunks the browser
   * holds from a longer earlier session. A session that needs more than
   * `maxChunks` cookies is refused (GH_LOGIN_FAILED: it can only come from a
   * provider's tokens and claims, and the browser could never send it back).
   */
  async seal(session: object, maxAgeSeconds: number, present: ReadonlyMap<string, string> = new Map()): Promise<string[]> {
    const { id, key } = this.keyring.current;
    const jwe = await new CompactEncrypt(new TextEncoder().encode(JSON.stringify(session)))
      .setProtectedHeader({ alg: 'dir', enc: 'A256GCM', kid: id, typ: TYP })
      .encrypt(key);
    const parts: string[] = [];
    for (let i = 0; i < jwe.length; i += this.chunkBytes) parts.push(jwe.slice(i, i + this.chunkBytes));
    // The count prefix may push chunk 0 two bytes over chunkBytes; the default leaves room for that.
    if (parts.length > this.maxChunks) throw new GatehouseError('GH_LOGIN_FAILED', 'the session is too large for stateless cookies (use stateful mode)');
    this.opened?.set(tagOf(jwe), { jwe, value: JSON.parse(JSON.stringify(session)) as Record<string, unknown> });
    parts[0] = `${parts.length}~${parts[0]}`;
    const out = parts.map((p, i) => serializeCookie(this.chunkName(i), p, { ...this.attributes, maxAgeSeconds }));
    for (let i = parts.length; i < this.maxChunks; i++) {
      if (present.has(this.chunkName(i))) out.push(clearCookie(this.chunkName(i), this.attributes));
    }
    return out;
  }

  /**
   * The session when these exact cookies were opened (or sealed) before and are
   * still cached; undefined otherwise, including for anything malformed ({@link open} judges those).
   */
  openCached(cookies: ReadonlyMap<string, string>): Record<string, unknown> | undefined {
    if (this.opened === undefined) return undefined;
    let parts: string[] | undefined;
    try {
      parts = this.chunks(cookies);
    } catch {
      return undefined;
    }
    return parts === undefined ? undefined : this.cached(parts);
  }

  /** The session, undefined when no chunk is present at all; GH_SESSION_INVALID when it does not open. */
  async open(cookies: ReadonlyMap<string, string>): Promise<Record<string, unknown> | undefined> {
    const parts = this.chunks(cookies);
    if (parts === undefined) return undefined;
    return this.cached(parts) ?? this.decrypt(parts);
  }

  /** The chunks in order, the count prefix removed; undefined when no chunk is present; GH_SESSION_INVALID when one is missing or oversized. */
  private chunks(cookies: ReadonlyMap<string, string>): string[] | undefined {
    const first = cookies.get(this.chunkName(0));
    if (first === undefined) {
      for (let i = 1; i < this.maxChunks; i++) if (cookies.has(this.chunkName(i))) throw invalid();
      return undefined;
    }
    const m = /^([1-9])~/.exec(first);
    if (!m) throw invalid();
    const count = Number(m[1]);
    if (count > this.maxChunks) throw invalid();
    const parts = [first.slice(2)];
    for (let i = 1; i < count; i++) {
      const part = cookies.get(this.chunkName(i));
      if (part === undefined || part.length > this.chunkBytes) throw invalid();
      parts.push(part);
    }
    if (parts[0].length > this.chunkBytes) throw invalid();
    return parts;
  }

  private cached(parts: readonly string[]): Record<string, unknown> | undefined {
    const last = parts[parts.length - 1] as string;
    const hit = this.opened?.get(tagOf(last.length >= 22 ? last : parts.join('')));
    return hit !== undefined && sameJwe(hit.jwe, parts) ? hit.value : undefined;
  }

  private async decrypt(parts: readonly string[]): Promise<Record<string, unknown>> {
    const jwe = parts.join('');
    let plaintext: Uint8Array;
    try {
      const result = await compactDecrypt(
        jwe,
        (header) => {
          const key = typeof header.kid === 'string' ? this.keyring.key(header.kid) : undefined;
          if (!key || header.typ !== TYP) throw invalid();
          return key;
        },
        { keyManagementAlgorithms: ['dir'], contentEncryptionAlgorithms: ['A256GCM'], maxDecompressedLength: 0 },
      );
      plaintext = result.plaintext;
    } catch {
      throw invalid();
    }
    let value: unknown;
    try {
      value = JSON.parse(new TextDecoder().decode(plaintext));
    } catch {
      throw invalid();
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid();
    this.opened?.set(tagOf(jwe), { jwe, value: value as Record<string, unknown> });
    return value as Record<string, unknown>;
  }

  /** Deletions for every chunk the browser sent (or all chunk names when unknown). */
  clear(present?: ReadonlyMap<string, string>): string[] {
    const out: string[] = [];
    for (let i = 0; i < this.maxChunks; i++) {
      if (!present || present.has(this.chunkName(i))) out.push(clearCookie(this.chunkName(i), this.attributes));
    }
    return out;
  }

  private chunkName(i: number): string {
    return this.chunkNames[i] as string;
  }
}
