import { looksLikeJwt } from '../../tokens/jwt/parse.js';
import type { TokenVerifier } from '../../tokens/jwt/options.js';
import type { Authenticator } from '../context.js';

/**
 * Authenticates a Bearer JWT (auth kind `jwt`). A bearer that is not three
 * dot-separated segments is not a JWT: `skipped`, so an opaque-token
 * authenticator gets its turn. A JWT-shaped bearer is this authenticator's to
 * judge; a bad one throws the verifier's GatehouseError.
 */
export function jwtAuthenticator(verifier: TokenVerifier): Authenticator {
  return {
    kind: 'jwt',
    async authenticate(ctx) {
      const token = ctx.credential?.bearer;
      if (!token || !looksLikeJwt(token)) return { status: 'skipped' };
      return { status: 'authenticated', identity: await verifier.verify(token) };
    },
  };
}
