import { GatehouseError } from '../../errors.js';
import { looksLikeJwt } from '../../tokens/jwt/parse.js';
import type { TokenVerifier } from '../../tokens/jwt/options.js';
import type { AuthnResult } from '../context.js';
import { checkBearerSyntax } from '../extract.js';
import type { SyncCapableAuthenticator } from '../run.js';

const SKIPPED: AuthnResult = Object.freeze({ status: 'skipped' });

/**
 * Authenticates a Bearer JWT (auth kind `jwt`). A bearer that is not three
 * dot-separated segments is not a JWT: `skipped`, so an opaque-token
 * authenticator gets its turn. A JWT-shaped bearer is this authenticator's to
 * judge; a bad one throws the verifier's GatehouseError.
 *
 * Decided synchronously, without a promise, whenever the verifier needs no key
 * fetch first: a cache hit, a known bad signature, or a fresh token whose
 * issuer's keys are loaded.
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
      const outcome = verifySync(token);
      if (outcome === undefined) return undefined;
      if (outcome instanceof GatehouseError) {
        // A token the parser refuses may not even be token68: that is a bad
        // request (400, thrown), not a bad token. Asked only here, on the
        // refusal, because the check reads the whole token (see checkBearerSyntax).
        if (outcome.code === 'GH_TOKEN_MALFORMED') checkBearerSyntax(ctx.credential);
        return outcome;
      }
      return { status: 'authenticated', identity: outcome };
    },
  };
}
