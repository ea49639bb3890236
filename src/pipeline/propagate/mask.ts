import { readClaim } from '../authorize/claims.js';
import type { Identity } from '../context.js';

/**
 * Masking: instead of the raw token, forward only chosen claims, as base64url
 * JSON in one header, for services that must not see (or replay) the token.
 * Claims absent from the token are left out, not sent as null.
 */
export function compileClaimMask(claims: readonly string[]): (identity: Identity) => string {
  const picks = claims.map((name) => ({ name, path: name.split('.') }));
  return (identity) => {
    const subset: Record<string, unknown> = {};
    for (const p of picks) {
      const value = readClaim(identity.claims, p.path, p.name);
      if (value !== undefined) subset[p.name] = value;
    }
    return Buffer.from(JSON.stringify(subset), 'utf8').toString('base64url');
  };
}
