import { GatehouseError } from '../../errors.js';
import type { JwtIssuerConfig } from '../../config/schema.js';
import type { IdentityCheck } from './scopes.js';

/**
 * Restricts a route to some of the configured issuers, named by `name` or by
 * issuer URL. A token from another trusted issuer is valid but not for this
 * route: 401 `invalid_token`, as the route would have rejected it outright had
 * only its own issuers been configured. Unknown names are a configuration error.
 */
export function compileIssuerCheck(
  allowed: readonly string[] | undefined,
  issuers: readonly JwtIssuerConfig[],
): IdentityCheck | undefined {
  if (allowed === undefined) return undefined;
  const urls = new Set<string>();
  for (const entry of allowed) {
    const match = issuers.find((i) => i.name === entry || i.issuer === entry);
    if (!match) throw new Error(`route issuers: no configured issuer is named ${entry}`);
    urls.add(match.issuer);
  }
  return (identity) => {
    if (!urls.has(identity.issuer)) {
      throw new GatehouseError('GH_TOKEN_INVALID', 'tokens of this issuer are not accepted on this route');
    }
  };
}
