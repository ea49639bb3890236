/**
 * The token verification core, shared by the gateway and the service kit.
 * Import from here rather than from the files behind it.
 */
export type { Identity } from './identity.js';
export { createTokenVerifier } from './jwt/verifier.js';
export {
  DEFAULT_CLOCK_SKEW_SECONDS,
  DEFAULT_JWKS_OPTIONS,
  withIssuerDefaults,
  type IssuerInput,
  type IssuerOptions,
  type JwksOptions,
  type TokenVerifier,
  type VerifierHooks,
  type VerifierOptions,
} from './jwt/options.js';
export { looksLikeJwt, MAX_TOKEN_LENGTH } from './jwt/parse.js';
export { inspectToken, type TokenInspection } from './jwt/inspect.js';
