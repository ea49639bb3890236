import type { GatehouseError } from '../../errors.js';
import { scopeSet, type Identity } from '../identity.js';
import { refuse } from './reject.js';

/** What one issuer requires of a token's claims. Times in seconds. */
export interface ClaimRules {
  readonly issuer: string;
  readonly audiences: ReadonlySet<string>;
  readonly clockSkewSeconds: number;
  readonly maxTokenAgeSeconds: number | undefined;
}

/**
 * RFC 7519 / RFC 8725 claim checks. `exp` is required (an access token without
 * an end would be valid forever); `iat` in the future beyond the skew is
 * refused as a sign of a broken or hostile issuer clock.
 */
export function checkClaims(payload: Readonly<Record<string, unknown>>, rules: ClaimRules, nowSeconds: number): void {
  if (payload.iss !== rules.issuer) throw invalid('issuer not accepted');
  const { exp, nbf, iat } = payload;
  if (exp === undefined) throw invalid('token has no expiry');
  if (!isNumericDate(exp)) throw invalid('exp claim is not a number');
  if (nowSeconds - rules.clockSkewSeconds >= exp) throw refuse('GH_TOKEN_EXPIRED', 'token expired');
  if (nbf !== undefined) {
    if (!isNumericDate(nbf)) throw invalid('nbf claim is not a number');
    if (nowSeconds + rules.clockSkewSeconds < nbf) throw invalid('token not yet valid');
  }
  if (iat !== undefined) {
    if (!isNumericDate(iat)) throw invalid('iat claim is not a number');
    if (iat > nowSeconds + rules.clockSkewSeconds) throw invalid('token issued in the future');
  }
  if (rules.maxTokenAgeSeconds !== undefined) {
    if (iat === undefined) throw invalid('token has no iat claim');
    if (nowSeconds - (iat as number) - rules.clockSkewSeconds > rules.maxTokenAgeSeconds) {
      throw refuse('GH_TOKEN_EXPIRED', 'token too old');
    }
  }
  if (!audienceAccepted(payload.aud, rules.audiences)) throw invalid('audience not accepted');
  // A sender-constrained token (DPoP, RFC 9449 §6.1; mTLS, RFC 8705 §3.1) is good only with a
  // proof of possession, which nothing here checks: as a bearer token it would serve whoever holds it.
  if (payload.cnf !== undefined) throw invalid('sender-constrained tokens are not accepted');
  for (const name of ['sub', 'client_id', 'azp', 'jti', 'scope'] as const) {
    const v = payload[name];
    if (v !== undefined && typeof v !== 'string') throw invalid(`${name} claim is not a string`);
  }
  const scp = payload.scp;
  if (scp !== undefined && typeof scp !== 'string' && !(Array.isArray(scp) && scp.every((s) => typeof s === 'string'))) {
    throw invalid('scp claim is not a string or list of strings');
  }
}

function audienceAccepted(aud: unknown, accepted: ReadonlySet<string>): boolean {
  if (typeof aud === 'string') return accepted.has(aud);
  if (!Array.isArray(aud)) return false;
  // An array of StringOrURI values (RFC 7519 §4.1.3): one member of another type makes the claim malformed.
  if (!aud.every((a) => typeof a === 'string')) return false;
  for (const a of aud) if (accepted.has(a)) return true;
  return false;
}

function isNumericDate(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

function invalid(message: string): GatehouseError {
  return refuse('GH_TOKEN_INVALID', message);
}

/**
 * Maps verified claims to an Identity. Call only after `checkClaims`, which
 * guarantees the types read here. The payload is frozen: every consumer sees
 * exactly what was signed.
 */
export function identityFromClaims(payload: Record<string, unknown>, token: string): Identity {
  const names: string[] = [];
  const scope = payload.scope as string | undefined;
  if (scope) names.push(...scope.split(' '));
  const scp = payload.scp as string | string[] | undefined;
  if (typeof scp === 'string') names.push(...scp.split(' '));
  else if (scp) names.push(...scp);
  const scopes = scopeSet(names);
  return Object.freeze({
    source: 'jwt',
    issuer: payload.iss as string,
    subject: payload.sub as string | undefined,
    clientId: (payload.client_id ?? payload.azp) as string | undefined,
    scopes,
    claims: deepFreeze(payload),
    expiresAt: payload.exp as number,
    tokenId: payload.jti as string | undefined,
    accessToken: token,
  });
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
