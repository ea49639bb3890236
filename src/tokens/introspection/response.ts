import { GatehouseError } from '../../errors.js';
import { scopeSet, type Identity } from '../identity.js';

/** A definite answer about one token. Unavailability is thrown, never returned. */
export type IntrospectionOutcome =
  | { readonly active: true; readonly identity: Identity }
  | { readonly active: false; readonly code: RefusalCode; readonly message: string };

export type RefusalCode = 'GH_TOKEN_INACTIVE' | 'GH_TOKEN_INVALID' | 'GH_TOKEN_EXPIRED';

export interface ResponseExpectations {
  /** When set, a response `iss` must equal it. */
  readonly issuer: string | undefined;
  /** The issuer recorded on the identity when the response has no `iss`. */
  readonly fallbackIssuer: string;
  readonly audiences: readonly string[];
  readonly clockSkewSeconds: number;
}

const STRING_FIELDS = ['scope', 'client_id', 'sub', 'iss', 'jti', 'token_type', 'token_use', 'username'] as const;
const NUMBER_FIELDS = ['exp', 'iat', 'nbf'] as const;

/**
 * Reads an RFC 7662 response strictly. A body that breaks the RFC's types is the
 * endpoint failing, not the caller: it throws GH_INTROSPECTION_UNAVAILABLE (503)
 * rather than turning a server fault into a 401 the client cannot fix.
 */
export function parseIntrospectionResponse(
  body: unknown,
  token: string,
  expect: ResponseExpectations,
  nowSeconds: number,
): IntrospectionOutcome {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw garbage('not a JSON object');
  const r = body as Record<string, unknown>;
  if (typeof r.active !== 'boolean') throw garbage('"active" is not a boolean');
  if (!r.active) return refuse('GH_TOKEN_INACTIVE', 'token is not active');

  for (const f of STRING_FIELDS) {
    if (r[f] !== undefined && typeof r[f] !== 'string') throw garbage(`"${f}" is not a string`);
  }
  for (const f of NUMBER_FIELDS) {
    if (r[f] !== undefined && !(typeof r[f] === 'number' && Number.isFinite(r[f]))) throw garbage(`"${f}" is not a number`);
  }
  const aud = readAudience(r.aud);

  const issuer = r.iss as string | undefined;
  if (expect.issuer !== undefined && issuer !== undefined && issuer !== expect.issuer) {
    return refuse('GH_TOKEN_INVALID', 'token issuer not accepted');
  }
  if (!aud.some((a) => expect.audiences.includes(a))) return refuse('GH_TOKEN_INVALID', 'token audience not accepted');
  // Without proof-of-possession checks here, a sender-constrained token must not pass as a bearer token.
  if (r.cnf !== undefined) return refuse('GH_TOKEN_INVALID', 'sender-constrained tokens are not accepted');
  if (r.token_type !== undefined && (r.token_type as string).toLowerCase() !== 'bearer') {
    return refuse('GH_TOKEN_INVALID', 'token type not accepted');
  }
  // Ory Hydra marks what it introspected: a refresh token is active and may name the API's audience.
  if (r.token_use !== undefined && r.token_use !== 'access_token') return refuse('GH_TOKEN_INVALID', 'not an access token');
  // RFC 7662 makes `exp` optional; without it only cacheMaxAge bounds how long the answer is reused.
  const exp = typeof r.exp === 'number' ? r.exp : Number.POSITIVE_INFINITY;
  if (exp + expect.clockSkewSeconds <= nowSeconds) return refuse('GH_TOKEN_EXPIRED', 'token expired');
  if (typeof r.nbf === 'number' && r.nbf - expect.clockSkewSeconds > nowSeconds) {
    return refuse('GH_TOKEN_INVALID', 'token not yet valid');
  }

  const scope = r.scope as string | undefined;
  const identity: Identity = {
    source: 'opaque',
    issuer: issuer ?? expect.issuer ?? expect.fallbackIssuer,
    subject: r.sub as string | undefined,
    clientId: r.client_id as string | undefined,
    scopes: scopeSet(scope ? scope.split(' ') : []),
    claims: Object.freeze({ ...r }),
    expiresAt: exp,
    tokenId: r.jti as string | undefined,
    accessToken: token,
  };
  return { active: true, identity: Object.freeze(identity) };
}

function readAudience(aud: unknown): string[] {
  if (aud === undefined) return [];
  if (typeof aud === 'string') return [aud];
  if (Array.isArray(aud) && aud.every((a) => typeof a === 'string')) return aud as string[];
  throw garbage('"aud" is neither a string nor an array of strings');
}

function refuse(code: RefusalCode, message: string): IntrospectionOutcome {
  return { active: false, code, message };
}

function garbage(why: string): GatehouseError {
  return new GatehouseError('GH_INTROSPECTION_UNAVAILABLE', 'introspection returned an invalid response', {
    cause: new Error(why),
  });
}
