import { decodeJwt, decodeProtectedHeader } from 'jose';
import type { GatehouseError } from '../../errors.js';
import { refuse } from './reject.js';

/**
 * A compact JWS split into its parts, before any signature or claim check.
 * The claims are decoded when first read: a verifier that checks the signature
 * first never parses the claims of a forgery (jose's `decodeJwt` is 4–5 µs of a
 * ~600-character token). Reading `payload` throws GH_TOKEN_MALFORMED when the
 * claims are not a JSON object.
 */
export class ParsedToken {
  private claims: Readonly<Record<string, unknown>> | undefined;

  constructor(
    private readonly token: string,
    readonly header: Readonly<Record<string, unknown>>,
    /** ASCII bytes of `header.payload`, what the signature covers. */
    readonly signingInput: Buffer,
    readonly signature: Buffer,
  ) {}

  get payload(): Readonly<Record<string, unknown>> {
    if (this.claims === undefined) {
      try {
        this.claims = decodeJwt(this.token);
      } catch {
        throw malformed('token payload is not a JSON object');
      }
    }
    return this.claims;
  }
}

/** Largest token accepted; bounds the work an attacker can ask for (header limits bound it too). */
export const MAX_TOKEN_LENGTH = 16 * 1024;

// Strict base64url: Buffer's decoder silently skips stray characters, so check the alphabet first.
// One pass over the whole token: two non-empty segments and a possibly empty signature.
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/**
 * Decoded protected headers by their encoded segment. One issuer signs every
 * token with the same few headers (`alg`, `kid`, `typ`), so a token never seen
 * before usually brings a header seen a moment ago: decoding it again would
 * repeat jose's base64url and JSON work on every new token. The entries are
 * frozen, the map is bounded, and a flood of distinct headers only empties it.
 */
const HEADER_CACHE_ENTRIES = 64;
/** Real headers run to about 100 characters; longer ones are decoded every time rather than kept. */
const HEADER_CACHE_MAX_SEGMENT = 512;
const decodedHeaders = new Map<string, Readonly<Record<string, unknown>>>();

/**
 * Cheap test: exactly three dot-separated segments. Tells a JWT from an opaque
 * token; segments may be empty, so that `a..b` or an unsecured `alg: none`
 * token is claimed, and rejected with a reason, as a JWT rather than passed on.
 */
export function looksLikeJwt(token: string): boolean {
  const first = token.indexOf('.');
  if (first < 0) return false;
  const second = token.indexOf('.', first + 1);
  return second >= 0 && token.indexOf('.', second + 1) === -1;
}

/**
 * Splits a compact JWS and decodes its header. Throws GH_TOKEN_MALFORMED for
 * anything that is not three base64url segments whose first is a JSON object;
 * the claims are checked the same way when first read ({@link ParsedToken.payload}).
 *
 * jose decodes the header and claims (the issue keeps jose as the parser); the
 * strict alphabet and length checks run first because they are cheap and make
 * the error precise. The signature bytes and signing input feed node:crypto
 * with keys imported once (measured in docs/jwt-verification.md).
 */
export function parseCompactJws(token: string): ParsedToken {
  if (token.length > MAX_TOKEN_LENGTH) throw malformed('token too large');
  const first = token.indexOf('.');
  const second = first < 0 ? -1 : token.indexOf('.', first + 1);
  if (first <= 0 || second <= first + 1 || token.indexOf('.', second + 1) !== -1) throw malformed('token is not a compact JWS');
  if (!COMPACT_JWS.test(token)) throw malformed('token is not base64url encoded');
  // A length of 1 mod 4 cannot come from any byte sequence, and unused low bits in a segment's last
  // character must be zero (RFC 4648 §3.5): otherwise several spellings decode to the same
  // signature, and a token could be altered without breaking it.
  if (!isCanonical(token, 0, first) || !isCanonical(token, first + 1, second) || !isCanonical(token, second + 1, token.length)) {
    throw malformed('token is not base64url encoded');
  }
  const header = decodeHeader(token, token.slice(0, first));
  return new ParsedToken(
    token,
    header,
    Buffer.from(token.slice(0, second), 'latin1'),
    // The alphabet and length are checked above, so Node's native decoder reads it exactly (jose's copies it twice).
    Buffer.from(token.slice(second + 1), 'base64url'),
  );
}

const BASE64URL_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/**
 * Whether `token[start, end)`, already known to be in the base64url alphabet, is the one
 * encoding of its bytes: 2 or 3 characters in the last group leave 4 or 2 bits unused.
 */
function isCanonical(token: string, start: number, end: number): boolean {
  const tail = (end - start) % 4;
  if (tail === 0) return true;
  if (tail === 1) return false;
  const value = BASE64URL_ALPHABET.indexOf(token[end - 1] as string);
  return (value & (tail === 2 ? 0x0f : 0x03)) === 0;
}

function decodeHeader(token: string, segment: string): Readonly<Record<string, unknown>> {
  const known = decodedHeaders.get(segment);
  if (known !== undefined) return known;
  let header: Record<string, unknown>;
  try {
    header = decodeProtectedHeader(token);
  } catch {
    throw malformed('token header is not a JSON object');
  }
  if (segment.length > HEADER_CACHE_MAX_SEGMENT) return header;
  if (decodedHeaders.size >= HEADER_CACHE_ENTRIES) decodedHeaders.clear();
  decodedHeaders.set(segment, Object.freeze(header));
  return header;
}

function malformed(message: string): GatehouseError {
  return refuse('GH_TOKEN_MALFORMED', message);
}
