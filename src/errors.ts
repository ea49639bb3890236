/**
 * Every error Gatehouse reports to a client carries a stable code. Callers branch
 * on `code`, never on the message; the message is a safe, human description that
 * never contains a token, cookie or secret value.
 */

export type BearerError = 'invalid_request' | 'invalid_token' | 'insufficient_scope';

interface ErrorSpec {
  readonly status: number;
  readonly title: string;
  /** RFC 6750 error attribute; absent when no credential was sent at all. */
  readonly bearerError?: BearerError;
  /**
   * `Retry-After` seconds for a failure of something the gateway depends on: a hint
   * that spreads clients' retries instead of having them all retry at once.
   */
  readonly retryAfterSeconds?: number;
}

const RETRY_AFTER_SECONDS = 5;

/** The catalog: one entry per code. docs/errors.md documents each one (a test checks). */
export const ERROR_CATALOG = {
  GH_TOKEN_MISSING: { status: 401, title: 'Authentication required' },
  GH_TOKEN_MALFORMED: { status: 401, title: 'Malformed token', bearerError: 'invalid_token' },
  GH_TOKEN_INVALID: { status: 401, title: 'Invalid token', bearerError: 'invalid_token' },
  GH_TOKEN_EXPIRED: { status: 401, title: 'Token expired', bearerError: 'invalid_token' },
  GH_TOKEN_INACTIVE: { status: 401, title: 'Token not active', bearerError: 'invalid_token' },
  GH_BAD_CREDENTIAL_REQUEST: { status: 400, title: 'Invalid credential request', bearerError: 'invalid_request' },
  GH_INSUFFICIENT_SCOPE: { status: 403, title: 'Insufficient scope', bearerError: 'insufficient_scope' },
  GH_CLAIM_MISMATCH: { status: 403, title: 'Claim requirement not met', bearerError: 'insufficient_scope' },
  GH_KEYS_UNAVAILABLE: { status: 503, title: 'Verification keys unavailable', retryAfterSeconds: RETRY_AFTER_SECONDS },
  GH_INTROSPECTION_UNAVAILABLE: { status: 503, title: 'Introspection unavailable', retryAfterSeconds: RETRY_AFTER_SECONDS },
  GH_SESSION_MISSING: { status: 401, title: 'Session required' },
  GH_SESSION_INVALID: { status: 401, title: 'Session invalid' },
  GH_SESSION_EXPIRED: { status: 401, title: 'Session expired' },
  GH_SESSION_STORE_UNAVAILABLE: { status: 503, title: 'Session store unavailable', retryAfterSeconds: RETRY_AFTER_SECONDS },
  GH_PROVIDER_UNAVAILABLE: { status: 503, title: 'Identity provider unavailable', retryAfterSeconds: RETRY_AFTER_SECONDS },
  GH_CSRF_REJECTED: { status: 403, title: 'Cross-site request rejected' },
  GH_LOGIN_FAILED: { status: 400, title: 'Login could not be completed' },
  GH_LOGIN_REQUIRED: { status: 302, title: 'Login required' },
  GH_SESSION_NOT_FOUND: { status: 404, title: 'Session not found' },
  GH_ROUTE_NOT_FOUND: { status: 404, title: 'No route' },
  GH_METHOD_NOT_ALLOWED: { status: 405, title: 'Method not allowed' },
  GH_METHOD_NOT_IMPLEMENTED: { status: 501, title: 'Method not implemented' },
  GH_CODING_NOT_IMPLEMENTED: { status: 501, title: 'Transfer coding not implemented' },
  GH_PATH_REJECTED: { status: 400, title: 'Path rejected' },
  GH_BAD_REQUEST: { status: 400, title: 'Bad request' },
  GH_URI_TOO_LONG: { status: 414, title: 'URI too long' },
  GH_EXPECTATION_FAILED: { status: 417, title: 'Expectation failed' },
  GH_HEADERS_TOO_LARGE: { status: 431, title: 'Request header fields too large' },
  GH_BODY_TOO_LARGE: { status: 413, title: 'Request body too large' },
  GH_REQUEST_TIMEOUT: { status: 408, title: 'Request timeout' },
  GH_UPSTREAM_UNAVAILABLE: { status: 502, title: 'Upstream unavailable' },
  GH_UPSTREAM_TIMEOUT: { status: 504, title: 'Upstream timeout' },
  GH_INTERNAL: { status: 500, title: 'Internal error' },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERROR_CATALOG;

export class GatehouseError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly title: string;
  readonly bearerError?: BearerError;
  readonly retryAfterSeconds?: number;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    const spec: ErrorSpec = ERROR_CATALOG[code];
    this.name = 'GatehouseError';
    this.code = code;
    this.status = spec.status;
    this.title = spec.title;
    this.bearerError = spec.bearerError;
    this.retryAfterSeconds = spec.retryAfterSeconds;
  }
}

export class InsufficientScope extends GatehouseError {
  constructor(readonly required: readonly string[]) {
    super('GH_INSUFFICIENT_SCOPE', `requires scope ${required.join(' ')}`);
  }
}

/** Thrown by config loading; carries every problem found, each with its path. */
export class ConfigError extends Error {
  readonly code = 'GH_CONFIG_INVALID';
  constructor(
    readonly issues: readonly ConfigIssue[],
    readonly file?: string,
  ) {
    super(
      `invalid configuration${file ? ` in ${file}` : ''}:\n` +
        issues.map((i) => `  - ${formatIssueLocation(i)}${i.message}`).join('\n'),
    );
    this.name = 'ConfigError';
  }
}

export interface ConfigIssue {
  /** Key path, e.g. `routes.0.upstream`. */
  readonly path: string;
  readonly message: string;
  /** 1-based line and column in the YAML source, when known. */
  readonly line?: number;
  readonly column?: number;
}

function formatIssueLocation(i: ConfigIssue): string {
  const where = i.line ? `line ${i.line}${i.column ? `:${i.column}` : ''} ` : '';
  return `${where}${i.path ? `${i.path}: ` : ''}`;
}

/** Builds the RFC 6750 challenge; one place so every response spells it alike. */
export function wwwAuthenticate(err: GatehouseError | undefined, realm: string): string {
  const params = [`realm=${quote(realm)}`];
  if (err?.bearerError) {
    params.push(`error=${quote(err.bearerError)}`);
    params.push(`error_description=${quote(err.message)}`);
  }
  if (err instanceof InsufficientScope) params.push(`scope=${quote(err.required.join(' '))}`);
  return `Bearer ${params.join(', ')}`;
}

// RFC 6750 §3: error_description is %x20-21 / %x23-5B / %x5D-7E, and a scope list is scope-tokens
// joined by spaces, the same set. A realm is held to it too (see CHALLENGE_REALM_RULE).
const OUTSIDE_CHALLENGE_TEXT = /[^\x20\x21\x23-\x5b\x5d-\x7e]/g;

/**
 * A quoted attribute value holding only characters RFC 6750 allows in one, each other one
 * (control characters, `"`, `\`, anything beyond ASCII) written `?`. Node refuses a header
 * value with a character above U+00FF by throwing from writeHead, and a claim name or a
 * description can hold one: the challenge must never be able to throw.
 */
function quote(value: string): string {
  return `"${value.replace(OUTSIDE_CHALLENGE_TEXT, '?')}"`;
}

/** RFC 6749 §3.3 scope-token: one or more of %x21 / %x23-5B / %x5D-7E (printable ASCII without space, `"` and `\`). */
const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/;
/** How {@link isScopeToken} is said in an error message. */
export const SCOPE_TOKEN_RULE = 'a scope-token: printable ASCII without spaces, `"` or `\\` (RFC 6749 §3.3)';

/**
 * Whether `value` is a scope a token can grant: a scope string is split on spaces, so a
 * required scope `read write` could never be matched, and a character outside the set
 * would be `?` in the challenge's `scope` attribute.
 */
export function isScopeToken(value: unknown): value is string {
  return typeof value === 'string' && SCOPE_TOKEN.test(value);
}

const CHALLENGE_REALM = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;
/** How {@link isChallengeRealm} is said in an error message. */
export const CHALLENGE_REALM_RULE = 'printable ASCII without `"` or `\\`';

/**
 * Whether `value` can be the realm of a challenge as written: printable ASCII. `"` and
 * `\` are refused too rather than escaped, as RFC 6750 refuses them in the other
 * attributes: a client's parser never needs to read a quoted-pair.
 */
export function isChallengeRealm(value: unknown): value is string {
  return typeof value === 'string' && CHALLENGE_REALM.test(value);
}

/** RFC 9457 problem details body. */
export interface ProblemDetails {
  type: string;
  title: string;
  status: number;
  code: ErrorCode;
  detail: string;
  requestId?: string;
}

export function problemDetails(err: GatehouseError, requestId?: string): ProblemDetails {
  return {
    type: `urn:gatehouse:error:${err.code}`,
    title: err.title,
    status: err.status,
    code: err.code,
    detail: err.message,
    ...(requestId ? { requestId } : {}),
  };
}

/** Wraps anything thrown into a GatehouseError without leaking internals. */
export function asGatehouseError(err: unknown): GatehouseError {
  if (err instanceof GatehouseError) return err;
  return new GatehouseError('GH_INTERNAL', 'internal error', { cause: err });
}
