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
