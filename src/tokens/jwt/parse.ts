import { decodeJwt, decodeProtectedHeader } from 'jose';
import type { GatehouseError } from '../../errors.js';
import { refuse } from './reject.js';

/** A compact JWS split into its parts, before any signature or claim check. */
export interface ParsedToken {
  readonly header: Readonly<Record<string, unknown>>;
  readonly payload: Readonly<Record<string, unknown>>;
  /** ASCII bytes of `header.payload`, what the signature covers. */
  readonly signingInput: Buffer;
  readonly signature: Buffer;
}

/** Largest token accepted; bounds the work an attacker can ask for (header limits bound it too). */
export const MAX_TOKEN_LENGTH = 16 * 1024;

// Strict base64url: Buffer's decoder silently skips stray characters, so check the alphabet first.
const BASE64URL = /^[A-Za-z0-9_-]+$/;
const BASE64URL_OR_EMPTY = /^[A-Za-z0-9_-]*$/;

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
 * Splits and decodes a compact JWS. Throws GH_TOKEN_MALFORMED for anything that
 * is not three base64url segments whose first two are JSON objects.
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
  const h = token.slice(0, first);
  const p = token.slice(first + 1, second);
  const s = token.slice(second + 1);
  if (!BASE64URL.test(h) || !BASE64URL.test(p) || !BASE64URL_OR_EMPTY.test(s)) throw malformed('token is not base64url encoded');
  // A length of 1 mod 4 cannot come from any byte sequence: reject rather than let the decoder guess.
  if (h.length % 4 === 1 || p.length % 4 === 1 || s.length % 4 === 1) throw malformed('token is not base64url encoded');
  let header: Record<string, unknown>;
  try {
    header = decodeProtectedHeader(token);
  } catch {
    throw malformed('token header is not a JSON object');
  }
  let payload: Record<string, unknown>;
  try {
    payload = decodeJwt(token);
  } catch {
    throw malformed('token payload is not a JSON object');
  }
  return {
    header,
    payload,
    signingInput: Buffer.from(token.slice(0, second), 'latin1'),
    // The alphabet and length are checked above, so Node's native decoder reads it exactly (jose's copies it twice).
    signature: Buffer.from(s, 'base64url'),
  };
}

function malformed(message: string): GatehouseError {
  return refuse('GH_TOKEN_MALFORMED', message);
}
