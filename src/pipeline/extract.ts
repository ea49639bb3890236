import type { IncomingMessage } from 'node:http';
import { GatehouseError } from '../errors.js';
import type { Credential } from './context.js';
import { queryParamTest } from './query-param-name.js';

/** A credential was sent, but in no form any authenticator reads. */
export const UNRECOGNIZED_CREDENTIAL: Credential = Object.freeze({});

// RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
const TOKEN68 = /^[A-Za-z0-9\-._~+/]+=*$/;

/**
 * Whether the query (with its `?`) has an `access_token` parameter in any
 * spelling an upstream would decode to that name: the plain one, one with
 * percent-encoded letters (`%61ccess_token`), or one PHP folds into it
 * (`access.token`, `access+token`, `access[token`, `access_token[]`,
 * ` access_token`, `access_token%00`).
 */
const hasAccessTokenParam = queryParamTest('access_token');

/**
 * Reads the credential of a request, before any verification (kept apart from
 * verification as envoy's extractor is). Only `Authorization: Bearer` is read:
 *
 * - no Authorization header → `undefined`;
 * - one `Bearer <token>` (scheme case-insensitive, one space) → `{ bearer }`, its
 *   token68 syntax checked later by {@link checkBearerSyntax};
 * - another scheme → {@link UNRECOGNIZED_CREDENTIAL}, for authenticators to skip;
 * - several Authorization headers, a malformed Bearer value, or `access_token` in
 *   the query string (RFC 6750 §2.3 is not supported: URLs end up in logs and
 *   Referer headers) → 400 GH_BAD_CREDENTIAL_REQUEST (`invalid_request`).
 *
 * Duplicates are counted on `rawHeaders`: Node keeps only the first Authorization
 * in `req.headers`, which would let a second one slip past unseen.
 */
export function extractCredential(req: IncomingMessage, query: string): Credential | undefined {
  if (query.length > 1 && hasAccessTokenParam(query)) {
    throw new GatehouseError('GH_BAD_CREDENTIAL_REQUEST', 'access tokens are not accepted in the query string');
  }
  const raw = req.rawHeaders;
  let value: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.length !== 13 || name.toLowerCase() !== 'authorization') continue;
    if (value !== undefined) throw new GatehouseError('GH_BAD_CREDENTIAL_REQUEST', 'more than one Authorization header');
    value = raw[i + 1] as string;
  }
  if (value === undefined) return undefined;
  return parseAuthorization(value);
}

/** Parses one Authorization header value; see {@link extractCredential}. */
export function parseAuthorization(value: string): Credential {
  const space = value.indexOf(' ');
  const scheme = space < 0 ? value : value.slice(0, space);
  if (scheme.length !== 6 || scheme.toLowerCase() !== 'bearer') return UNRECOGNIZED_CREDENTIAL;
  const token = space < 0 ? '' : value.slice(space + 1);
  if (token.length === 0) throw badBearer();
  return { bearer: token };
}

/**
 * The token68 syntax check of a Bearer value (400 GH_BAD_CREDENTIAL_REQUEST).
 * Not part of extraction: it reads the whole token, and a token an authenticator
 * accepts has passed a stricter check already (a JWT's segments are base64url;
 * nothing enters a cache before this check or that parse), so it runs only
 * before waiting on real work or on a refusal.
 */
export function checkBearerSyntax(credential: Credential | undefined): void {
  const token = credential?.bearer;
  if (token !== undefined && !TOKEN68.test(token)) throw badBearer();
}

function badBearer(): GatehouseError {
  return new GatehouseError('GH_BAD_CREDENTIAL_REQUEST', 'the Bearer credential must be exactly one token68 value');
}
