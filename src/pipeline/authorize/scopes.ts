import { InsufficientScope } from '../../errors.js';
import type { Identity } from '../context.js';

/** A compiled authorization check; throws a GatehouseError when it fails. */
export type IdentityCheck = (identity: Identity) => void;

/**
 * Requires every listed scope (RFC 6750 §3.1: 403 `insufficient_scope`, and the
 * challenge names the scopes the route needs). Undefined when nothing is required.
 */
export function compileScopeCheck(required: readonly string[]): IdentityCheck | undefined {
  if (required.length === 0) return undefined;
  const scopes = [...new Set(required)];
  return (identity) => {
    for (let i = 0; i < scopes.length; i++) {
      if (!identity.scopes.has(scopes[i] as string)) throw new InsufficientScope(scopes);
    }
  };
}
