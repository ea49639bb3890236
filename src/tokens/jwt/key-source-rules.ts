import { endpointUrlProblem } from '../../loopback.js';
import { algorithmFamily, hmacSecretProblem, isSupportedAlgorithm } from './algorithms.js';

/** Where an issuer's keys come from, and the algorithms they must serve. */
export interface KeySourceSettings {
  readonly publicKey?: string;
  readonly jwksUri?: string;
  readonly secret?: string;
  readonly algorithms: readonly string[];
}

/** One thing wrong with an issuer's key settings: the key it concerns (empty for the issuer as a whole) and why. */
export interface KeySourceProblem {
  readonly path: readonly ('publicKey' | 'jwksUri' | 'secret' | 'algorithms')[];
  readonly message: string;
}

/**
 * Every reason an issuer's keys could never verify a token, in the words the
 * config schema reports. The one copy of these rules: the schema calls it for
 * `config check`, start and reload, and the verifier core for the service kit,
 * which takes options from code. Without them the kit accepted an HMAC
 * allow-list beside a JWKS or public key (never ready, every token "algorithm
 * not allowed"), a secret with RS256 (only HS* can use it), and a jwksUri
 * carrying `user:password@` (every fetch fails, forever).
 */
export function keySourceProblems(o: KeySourceSettings): KeySourceProblem[] {
  const problems: KeySourceProblem[] = [];
  const sources = [o.publicKey, o.jwksUri, o.secret].filter((s) => s !== undefined).length;
  if (sources !== 1) problems.push({ path: [], message: 'exactly one of publicKey, jwksUri or secret is required' });
  const algorithms = Array.isArray(o.algorithms) ? o.algorithms : [];
  const hmac = algorithms.filter((a) => isSupportedAlgorithm(a) && algorithmFamily(a) === 'oct');
  if (o.secret !== undefined) {
    if (hmac.length !== algorithms.length) {
      problems.push({ path: ['algorithms'], message: 'a secret allows only HS256, HS384 or HS512' });
    }
    const short = hmacSecretProblem(typeof o.secret === 'string' ? Buffer.byteLength(o.secret, 'utf8') : 0, algorithms);
    if (short !== undefined) problems.push({ path: ['secret'], message: short });
  } else if (hmac.length > 0) {
    problems.push({ path: ['algorithms'], message: 'HMAC algorithms need an explicit secret and are never allowed with public keys' });
  }
  if (o.jwksUri !== undefined) {
    const problem = typeof o.jwksUri === 'string' ? endpointUrlProblem(o.jwksUri) : 'must be a URL string';
    if (problem !== undefined) problems.push({ path: ['jwksUri'], message: problem });
  }
  return problems;
}
