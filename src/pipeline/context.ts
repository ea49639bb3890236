import type { IncomingMessage } from 'node:http';

/**
 * Who is calling, as established by an authenticator. The same shape whatever
 * the credential (JWT, introspected opaque token, session), so authorize and
 * propagate never care where it came from.
 */
export interface Identity {
  /** Which authenticator produced it: 'jwt', 'opaque', 'session', … */
  readonly source: string;
  readonly issuer: string;
  readonly subject: string | undefined;
  readonly clientId: string | undefined;
  readonly scopes: ReadonlySet<string>;
  /** All claims as received (JWT payload or introspection response). Frozen. */
  readonly claims: Readonly<Record<string, unknown>>;
  /** Token expiry, epoch seconds. */
  readonly expiresAt: number;
  /** `jti` when present: the revocation key. */
  readonly tokenId: string | undefined;
  /** The access token to forward upstream as `Authorization: Bearer`. */
  readonly accessToken: string;
}

/** What was extracted from the request before any verification. */
export interface Credential {
  /** Value of `Authorization: Bearer <token>`, when present and well-formed. */
  readonly bearer?: string;
}

/** Per-request state threaded through the pipeline stages. */
export interface RequestContext {
  readonly req: IncomingMessage;
  readonly requestId: string;
  /** The normalized path, used for both matching and forwarding. */
  readonly path: string;
  /** The raw query string including '?', or ''. */
  readonly query: string;
  credential: Credential | undefined;
  identity: Identity | undefined;
}

export type AuthnResult =
  | { status: 'authenticated'; identity: Identity }
  | { status: 'skipped' }; // not my credential; the next one tries

/** One credential type. Throws a GatehouseError when the credential is its own but bad. */
export interface Authenticator {
  readonly kind: string;
  authenticate(ctx: RequestContext): Promise<AuthnResult>;
}
