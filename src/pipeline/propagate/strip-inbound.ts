/**
 * Decides which inbound headers never reach an upstream because they could carry
 * a spoofed identity: every name with a configured prefix (default `x-gatehouse-`,
 * `x-user-`, `x-auth-`), every configured name, and every header the route itself
 * injects. Stripping happens before propagation adds the real values, so a client
 * can neither replace nor add to them.
 */
export interface InboundStripper {
  /** `name` must be lower-case. */
  strips(name: string): boolean;
}

export interface StripOptions {
  readonly prefixes: readonly string[];
  readonly names: readonly string[];
}

export function compileInboundStripper(opts: StripOptions): InboundStripper {
  const prefixes = opts.prefixes.map((p) => p.toLowerCase());
  const names = new Set(opts.names.map((n) => n.toLowerCase()));
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
