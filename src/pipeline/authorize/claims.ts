import type { ClaimCondition } from '../../config/schema.js';
import { GatehouseError } from '../../errors.js';
import type { IdentityCheck } from './scopes.js';

/**
 * Compiles a route's claim conditions into one check. Claim names address nested
 * objects with dots (`realm_access.roles`); a claim whose literal name contains a
 * dot is found too, since it is tried first. Failing → 403 GH_CLAIM_MISMATCH,
 * naming the claim but never its value.
 */
export function compileClaimCheck(conditions: readonly ClaimCondition[]): IdentityCheck | undefined {
  if (conditions.length === 0) return undefined;
  const tests = conditions.map(compileCondition);
  return (identity) => {
    for (let i = 0; i < tests.length; i++) {
      const t = tests[i] as CompiledCondition;
      if (!t.holds(readClaim(identity.claims, t.path, t.claim))) {
        throw new GatehouseError('GH_CLAIM_MISMATCH', `claim ${t.claim} does not meet the route's requirement`);
      }
    }
  };
}

interface CompiledCondition {
  readonly claim: string;
  readonly path: readonly string[];
  holds(value: unknown): boolean;
}

function compileCondition(c: ClaimCondition): CompiledCondition {
  const base = { claim: c.claim, path: c.claim.split('.') };
  if (c.present !== undefined) {
    const want = c.present;
    return { ...base, holds: (v) => (v !== undefined && v !== null) === want };
  }
  if (c.equals !== undefined) {
    const want = c.equals;
    return { ...base, holds: (v) => v === want };
  }
  if (c.oneOf !== undefined) {
    const allowed = new Set<unknown>(c.oneOf);
    return { ...base, holds: (v) => (typeof v === 'string' || typeof v === 'number') && allowed.has(v) };
  }
  const member = c.contains as string | number;
  return {
    ...base,
    holds: (v) => {
      if (Array.isArray(v)) return v.includes(member);
      // OAuth-style space-separated lists (`scope`, `roles`) count as arrays.
      if (typeof v === 'string' && typeof member === 'string') return v.split(' ').includes(member);
      return false;
    },
  };
}

/** Reads a claim by its literal name, else by walking its dotted path. Own properties only. */
export function readClaim(claims: Readonly<Record<string, unknown>>, path: readonly string[], name: string): unknown {
  if (Object.hasOwn(claims, name)) return claims[name];
  if (path.length === 1) return undefined;
  let node: unknown = claims;
  for (const key of path) {
    if (node === null || typeof node !== 'object' || Array.isArray(node) || !Object.hasOwn(node, key)) return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return node;
}
