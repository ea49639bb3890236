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
  /** Token expiry, epoch seconds; Infinity for an opaque token whose introspection answer has no `exp` (RFC 7662 makes it optional). */
  readonly expiresAt: number;
  /** `jti` when present: for a service that keeps its own record of tokens (audit, denylist); the gateway has no denylist. */
  readonly tokenId: string | undefined;
  /** The access token to forward upstream as `Authorization: Bearer`. */
  readonly accessToken: string;
}

/**
 * A scope set that cannot change after it is built. Identities are cached and
 * shared by every request that presents the same credential: a consumer that
 * called `scopes.add('admin')` on one request's identity (the service kit hands
 * it to application code) would grant that scope to the later ones.
 */
class FixedScopeSet extends Set<string> {
  constructor(values: Iterable<string>) {
    super();
    // `super(values)` would call the overridden `add` below.
    for (const v of values) if (v !== '') Set.prototype.add.call(this, v);
  }

  override add(): this {
    throw new TypeError('identity scopes are read-only');
  }

  override delete(): boolean {
    throw new TypeError('identity scopes are read-only');
  }

  override clear(): void {
    throw new TypeError('identity scopes are read-only');
  }
}

/** The scopes of an identity, empty names dropped; read-only at run time, not just in its type. */
export function scopeSet(values: Iterable<string>): ReadonlySet<string> {
  return new FixedScopeSet(values);
}
