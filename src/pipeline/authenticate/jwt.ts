import { looksLikeJwt } from '../../tokens/jwt/parse.js';
import type { TokenVerifier } from '../../tokens/jwt/options.js';
import type { AuthnResult } from '../context.js';
import type { SyncCapableAuthenticator } from '../run.js';

const SKIPPED: AuthnResult = Object.freeze({ status: 'skipped' });

/**
 * Authenticates a Bearer JWT (auth kind `jwt`). A bearer that is not three
 * dot-separated segments is not a JWT: `skipped`, so an opaque-token
 * authenticator gets its turn. A JWT-shaped bearer is this authenticator's to
 * judge; a bad one throws the verifier's GatehouseError.
 *
 * A token the verifier has already judged (a cache hit, or a known bad
 * signature) is decided synchronously, without a promise.
 */
export function jwtAuthenticator(verifier: TokenVerifier): SyncCapableAuthenticator {
  const verifySync = verifier.verifySync?.bind(verifier);
  return {
    kind: 'jwt',
    async authenticate(ctx) {
      const token = ctx.credential?.bearer;
      if (!token || !looksLikeJwt(token)) return SKIPPED;
      return { status: 'authenticated', identity: await verifier.verify(token) };
    },
    authenticateSync(ctx) {
      const token = ctx.credential?.bearer;
      if (!token || !looksLikeJwt(token)) return SKIPPED;
      if (verifySync === undefined) return undefined;
      const identity = verifySync(token);
      return identity === undefined ? undefined : { status: 'authenticated', identity };
    },
  };
}
