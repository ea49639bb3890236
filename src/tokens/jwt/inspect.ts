import { decodeJwt, decodeProtectedHeader } from 'jose';
import { GatehouseError, type ErrorCode } from '../../errors.js';
import type { TokenVerifier } from './options.js';

/** What `gatehouse token inspect` prints. */
export interface TokenInspection {
  /** Decoded JOSE header, or undefined when it does not decode. */
  readonly header: Record<string, unknown> | undefined;
  /** Decoded claims, or undefined when they do not decode. */
  readonly claims: Record<string, unknown> | undefined;
  /** True only when a verifier was given and accepted the token. */
  readonly verified: boolean;
  /** Why it does not verify (or why nothing was checked). Never contains the token. */
  readonly reason?: string;
  readonly code?: ErrorCode;
}

/**
 * Decodes a token for display and, given a verifier, says whether and why it
 * verifies. Decoding uses jose's tolerant decoders so a token that fails
 * verification can still be shown.
 *
 * @example
 * ```ts
 * const r = await inspectToken(token, createTokenVerifier(issuers));
 * if (!r.verified) console.log(r.code, r.reason); // GH_TOKEN_EXPIRED token expired
 * ```
 */
export async function inspectToken(token: string, verifier?: TokenVerifier): Promise<TokenInspection> {
  const header = tryDecode(() => decodeProtectedHeader(token) as Record<string, unknown>);
  const claims = tryDecode(() => decodeJwt(token) as Record<string, unknown>);
  if (!verifier) {
    return { header, claims, verified: false, reason: 'not verified: no configuration given' };
  }
  try {
    await verifier.verify(token);
    return { header, claims, verified: true };
  } catch (err) {
    if (err instanceof GatehouseError) return { header, claims, verified: false, reason: err.message, code: err.code };
    return { header, claims, verified: false, reason: 'internal error', code: 'GH_INTERNAL' };
  }
}

function tryDecode<T>(fn: () => T): T | undefined {
  try {
    return fn();
  } catch {
    return undefined;
  }
}
