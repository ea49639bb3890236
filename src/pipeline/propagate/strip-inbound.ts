/**
 * Decides which inbound headers never reach an upstream because they could carry
 * a spoofed identity: every name with a configured prefix (default `x-gatehouse-`,
 * `x-user-`, `x-auth-`), every configured name, and every header any route
 * injects (on every route: a public route to the same service must not carry it
 * either). Stripping happens before propagation adds the real values, so a client
 * can neither replace nor add to them.
 *
 * Names are compared as {@link foldedHeaderName} spells them, so an underscore or
 * dot spelling (`X_User_Id`, `X.User.Id`) cannot slip past as another header.
 */
export interface InboundStripper {
  /** `name` must be lower-case and folded by {@link foldedHeaderName} (the caller folds once for several checks). */
  strips(name: string): boolean;
}

export interface StripOptions {
  readonly prefixes: readonly string[];
  readonly names: readonly string[];
}

/**
 * A lower-case header name as an application behind a CGI-style server may see it.
 * Rack, WSGI and PHP hand headers over as `HTTP_X_USER_ID`, the same key for
 * `X-User-Id` and `X_User_Id`; PHP (behind Caddy's FastCGI or FrankenPHP) also turns
 * `.` into `_`, so `X.User.Id` lands there too. Every character other than a letter
 * or digit therefore counts as a hyphen. A name with nothing to fold (almost every
 * real one) is returned as is, without a copy.
 */
export function foldedHeaderName(name: string): string {
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (!((c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2d)) return name.replace(/[^a-z0-9-]/g, '-');
  }
  return name;
}

export function compileInboundStripper(opts: StripOptions): InboundStripper {
  const prefixes = opts.prefixes.map((p) => foldedHeaderName(p.toLowerCase()));
  const names = new Set(opts.names.map((n) => foldedHeaderName(n.toLowerCase())));
  return {
    strips(name) {
      if (names.has(name)) return true;
      for (let i = 0; i < prefixes.length; i++) {
        if (name.startsWith(prefixes[i] as string)) return true;
      }
      return false;
    },
  };
}
