/**
 * A clock that runs with real time plus an offset the test moves forward. Services under test
 * mix it with libraries that read the real clock (oidc-provider stamps `iat` with Date.now()),
 * so a clock frozen at some earlier instant would drift from theirs by however long the test
 * took to get there; an offset clock keeps the two a fixed, known distance apart.
 */
export function offsetClock(): { now: () => number; advance(ms: number): void; reset(): void } {
  let offset = 0;
  return { now: () => Date.now() + offset, advance: (ms) => void (offset += ms), reset: () => void (offset = 0) };
}
