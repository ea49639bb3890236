/**
 * Decides which inbound headers never reach an upstream because they could carry
 * a spoofed identity: every name with a configured prefix (default `x-gatehouse-`,
 * `x-user-`, `x-auth-`), every configured name, and every header any route
 * injects (on every route: a public route to the same service must not carry it
 * either). Stripping happens before propagation adds the real values, so a client
 * can neither replace nor add to them.
 *
 * Underscores count as hyphens: CGI-style servers (Rack, WSGI, PHP) hand headers
 * to the application as `HTTP_X_USER_ID`, the same key for `X-User-Id` and
 * `X_User_Id`, so an underscore spelling must not slip past as another header.
 */
export interface InboundStripper {
  /** `name` must be lower-case. */
  strips(name: string): boolean;
}

export interface StripOptions {
  readonly prefixes: readonly string[];
  readonly names: readonly string[];
}

function canonical(name: string): string {
  return name.toLowerCase().replaceAll('_', '-');
}

export function compileInboundStripper(opts: StripOptions): InboundStripper {
  const prefixes = opts.prefixes.map(canonical);
  const names = new Set(opts.names.map(canonical));
  return {
    strips(name) {
      // Underscores are rare in real header names: only those pay for the copy.
      const n = name.includes('_') ? name.replaceAll('_', '-') : name;
      if (names.has(n)) return true;
      for (let i = 0; i < prefixes.length; i++) {
        if (n.startsWith(prefixes[i] as string)) return true;
      }
      return false;
    },
  };
}
