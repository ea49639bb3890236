import type { GatehouseError } from '../../errors.js';
import type { Identity } from '../identity.js';
import { keySourceProblems } from './key-source-rules.js';

/**
 * One trusted issuer. Structurally the gateway's `JwtIssuerConfig` (the config
 * schema's output fits it), defined here so the service kit needs nothing from
 * config/. Times are seconds.
 *
 * @example
 * ```ts
 * const issuer: IssuerOptions = {
 *   issuer: 'https://auth.example.com', audience: ['orders', 'billing'],
 *   publicKey: '/etc/gatehouse/issuer.pem', algorithms: ['RS256'],
 *   clockSkew: 30, requireTyp: 'at+jwt',
 *   jwks: { timeoutMs: 5000, maxBytes: 524288, cacheMaxAge: 600, cooldown: 30 },
 * };
 * ```
 */
export interface IssuerOptions {
  /** Label for metrics and logs; defaults to `issuer`. */
  readonly name?: string;
  /** Expected `iss`, compared exactly. Also selects this issuer for a token. */
  readonly issuer: string;
  /** Accepted `aud` value(s); the token must name at least one. */
  readonly audience: string | readonly string[];
  /** Path to a PEM SPKI key, PEM certificate, JWK or JWK Set JSON file. */
  readonly publicKey?: string;
  /** JWKS endpoint: https, or http on loopback only. */
  readonly jwksUri?: string;
  /** HMAC secret, at least as long as the hash of the longest allowed HS* algorithm (32, 48 or 64 bytes); only with HS* algorithms. */
  readonly secret?: string;
  /** Allow-list; the token header only chooses among these. */
  readonly algorithms: readonly string[];
  /** Tolerance for exp, nbf and iat, in seconds. */
  readonly clockSkew: number;
  /** When set, tokens whose `iat` is older than this many seconds are refused. */
  readonly maxTokenAge?: number;
  /** Require this JOSE `typ` (RFC 9068). Either spelling accepts both. */
  readonly requireTyp?: 'at+jwt' | 'application/at+jwt';
  readonly jwks: JwksOptions;
}

/**
 * Limits for fetching one issuer's JWKS.
 *
 * @example
 * ```ts
 * const jwks: JwksOptions = { timeoutMs: 2000, maxBytes: 65536, cacheMaxAge: 300, cooldown: 10 };
 * ```
 */
export interface JwksOptions {
  readonly timeoutMs: number;
  readonly maxBytes: number;
  /** Seconds keys are used before a refresh; the refresh runs ahead of this. At least 1. */
  readonly cacheMaxAge: number;
  /** Minimum seconds between re-fetches triggered by requests: unknown `kid`s, and signatures that fail under fetched keys. At least 1. */
  readonly cooldown: number;
}

/** The same defaults as the gateway's config schema. */
export const DEFAULT_JWKS_OPTIONS: JwksOptions = Object.freeze({
  timeoutMs: 5000,
  maxBytes: 512 * 1024,
  cacheMaxAge: 600,
  cooldown: 30,
});
export const DEFAULT_CLOCK_SKEW_SECONDS = 30;

/**
 * IssuerOptions with the defaulted fields optional, for callers without the config schema (the kit).
 *
 * @example
 * ```ts
 * const input: IssuerInput = { issuer: 'https://auth.example.com', audience: 'orders',
 *   jwksUri: 'https://auth.example.com/jwks', algorithms: ['ES256'] };
 * ```
 */
export type IssuerInput = Omit<IssuerOptions, 'clockSkew' | 'jwks'> & {
  readonly clockSkew?: number;
  readonly jwks?: Partial<JwksOptions>;
};

/**
 * Fills defaults the config schema would have filled (clock skew 30 s, JWKS limits).
 *
 * @example
 * ```ts
 * createTokenVerifier([withIssuerDefaults({ issuer, audience: 'orders', secret, algorithms: ['HS256'] })]);
 * ```
 */
export function withIssuerDefaults(input: IssuerInput): IssuerOptions {
  return {
    ...input,
    clockSkew: input.clockSkew ?? DEFAULT_CLOCK_SKEW_SECONDS,
    jwks: { ...DEFAULT_JWKS_OPTIONS, ...input.jwks },
  };
}

/**
 * Throws a plain Error naming the issuer when `o` could never be checked safely,
 * or its keys could never verify a token. The gateway's config schema refuses
 * all of these already; the service kit takes options from code, where
 * `Number(process.env.SKEW)` of an unset variable is NaN, and every comparison
 * with NaN is false: an `exp` check that never fires. So the core refuses them
 * itself, the key settings by the schema's own rules (keySourceProblems).
 */
export function assertUsableIssuerOptions(o: IssuerOptions): void {
  const who = typeof o.issuer === 'string' && o.issuer !== '' ? o.issuer : '(unnamed)';
  const fail = (message: string): never => {
    throw new Error(`issuer ${who}: ${message}`);
  };
  if (typeof o.issuer !== 'string' || o.issuer === '') fail('issuer must be a non-empty string (the expected iss)');
  const audiences = typeof o.audience === 'string' ? [o.audience] : Array.isArray(o.audience) ? o.audience : [];
  if (audiences.length === 0 || audiences.some((a) => typeof a !== 'string' || a === '')) fail('audience must be a non-empty string or list of them');
  if (!Array.isArray(o.algorithms) || o.algorithms.length === 0) fail('algorithms must list at least one algorithm');
  const keyProblems = keySourceProblems(o);
  if (keyProblems.length > 0) fail(keyProblems.map((p) => (p.path.length > 0 ? `${p.path.join('.')}: ${p.message}` : p.message)).join('; '));
  // Bounds no stricter than the config schema's, so that `config check` and the start agree.
  if (!isFiniteNonNegative(o.clockSkew)) fail('clockSkew must be a finite number of seconds, 0 or more');
  if (o.maxTokenAge !== undefined && !isFiniteNonNegative(o.maxTokenAge)) fail('maxTokenAge must be a finite number of seconds, 0 or more');
  if (o.jwksUri !== undefined) {
    const { timeoutMs, maxBytes } = o.jwks;
    if (!(isFiniteNonNegative(timeoutMs) && timeoutMs > 0 && isFiniteNonNegative(maxBytes) && maxBytes > 0)) {
      fail('jwks.timeoutMs and jwks.maxBytes must be finite numbers above 0');
    }
    for (const key of ['cacheMaxAge', 'cooldown'] as const) {
      const problem = jwksIntervalProblem(key, o.jwks[key]);
      if (problem !== undefined) fail(`jwks.${key} ${problem}`);
    }
  }
}

/**
 * Shortest `jwks.cacheMaxAge` and `jwks.cooldown`, in seconds. A shorter cache
 * age re-fetches the JWKS in a loop (every 50 ms at 0, forever); a shorter
 * cooldown lets every forged token with an unknown `kid` or a bad signature
 * fetch it, turning the gateway into an amplifier against the issuer.
 */
export const MIN_JWKS_INTERVAL_SECONDS = 1;

/**
 * Why `seconds` cannot be the JWKS `cacheMaxAge` or `cooldown`, or undefined.
 * The config schema reports the same words, so `config check`, the start and
 * the service kit refuse alike.
 */
export function jwksIntervalProblem(key: 'cacheMaxAge' | 'cooldown', seconds: unknown): string | undefined {
  if (typeof seconds === 'number' && Number.isFinite(seconds) && seconds >= MIN_JWKS_INTERVAL_SECONDS) return undefined;
  return key === 'cacheMaxAge'
    ? `must be at least ${MIN_JWKS_INTERVAL_SECONDS}s: a shorter cache age re-fetches the JWKS continuously`
    : `must be at least ${MIN_JWKS_INTERVAL_SECONDS}s: a shorter cooldown lets every token with an unknown kid or a bad signature trigger a JWKS fetch`;
}

function isFiniteNonNegative(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0;
}

/**
 * Observers for metrics and logs; called synchronously, must not throw.
 *
 * @example
 * ```ts
 * const hooks: VerifierHooks = {
 *   onJwksFetch: (issuer, result) => fetches.inc({ issuer, result }),
 *   onCacheLookup: (hit) => (hit ? hits : misses).inc(),
 *   onKeySourceError: (issuer, reason) => logger.warn({ issuer, reason }, 'signing keys unavailable'),
 * };
 * ```
 */
export interface VerifierHooks {
  /** After every JWKS fetch, with the issuer's name (or URL when unnamed). */
  onJwksFetch?(issuer: string, result: 'ok' | 'error'): void;
  /**
   * When an issuer's keys are not there to verify with: a JWKS fetch failed
   * (reason such as `JWKS fetch failed: timed out`, `response too large`,
   * `unexpected status 500`; the last good keys serve on), or a fetch brought a
   * set with no key usable for the issuer's algorithms (`JWKS has no usable key
   * for the allowed algorithms: every token is refused`, with each key and why;
   * said once when it happens, not on every refresh that finds it so). For logs;
   * the reason never holds key material.
   */
  onKeySourceError?(issuer: string, reason: string): void;
  /**
   * When a JWKS fetch brought keys that are not used (private key material, an
   * Ed448 key, a `kid` shadowed by an earlier key for some algorithm, …): not an
   * outage, but a publisher's mistake worth a look. Reported on each fetch that
   * has them.
   */
  onKeysSkipped?(issuer: string, reason: string): void;
  /**
   * On every token cache lookup (not called when the caches are disabled): a hit
   * when the verified-token cache or the rejected-signature cache answered.
   */
  onCacheLookup?(hit: boolean): void;
}

/**
 * Options of {@link TokenVerifier} construction.
 *
 * @example
 * ```ts
 * createTokenVerifier(issuers, { cacheMaxEntries: 50_000, baseDir: dirname(configFile) });
 * ```
 */
/** The largest token cache a verifier builds (lru-cache allocates index arrays of its size up front); the config schema has the same bound. */
export const MAX_CACHE_ENTRIES = 1_000_000;

export interface VerifierOptions {
  /** Verified-token cache size, 0 to MAX_CACHE_ENTRIES; 0 disables it. Default 10000. */
  readonly cacheMaxEntries?: number;
  /** Clock in ms (default Date.now); decides expiry, cache lifetimes and fetch cooldowns. */
  readonly now?: () => number;
  readonly hooks?: VerifierHooks;
  /** Directory relative `publicKey` paths resolve against (default: the working directory). */
  readonly baseDir?: string;
  /**
   * The verifier this one replaces (a configuration reload). Each issuer
   * whose keys come from the same place (`jwksUri` and `jwks` limits, `secret`
   * or `publicKey` file content, and `algorithms`) keeps them: a JWKS is not
   * fetched again, and its last good keys stay even while the endpoint is
   * down. When every issuer is unchanged in every option, the verified and
   * rejected token caches carry over too. Close `previous` afterwards as
   * usual; what this verifier took over keeps running until it is closed too.
   */
  readonly previous?: TokenVerifier;
}

/**
 * Verifies JWT access tokens for a set of trusted issuers.
 *
 * @example
 * ```ts
 * try {
 *   const identity = await verifier.verify(token);
 * } catch (err) {
 *   if (err instanceof GatehouseError) reply(err.status, err.code); // GH_TOKEN_EXPIRED, …
 * }
 * verifier.close(); // at shutdown
 * ```
 */
export interface TokenVerifier {
  /** Resolves to the caller's identity; rejects with a GatehouseError. */
  verify(token: string): Promise<Identity>;
  /**
   * The synchronous path: the identity, or the refusal (returned, not thrown),
   * whenever no key has to be fetched first (a cached answer, or keys already
   * loaded); `undefined` when only {@link verify} can tell (keys still loading,
   * an unknown `kid` that may bring a JWKS fetch, or a signature that failed
   * under fetched keys while a re-fetch is allowed, at most once per
   * cooldown). Saves the promise chain; returning refusals keeps a flood of
   * forgeries out of V8's interpreter.
   */
  verifySync?(token: string): Identity | GatehouseError | undefined;
  /**
   * Resolves once every key source has keys (a JWKS fetched once; key files and
   * secrets have them from the start). Never rejects, and waits as long as a
   * JWKS stays down, while the retry timer does not hold the process open: a
   * process that awaits only this ends silently (exit code 0, or 13 with a
   * top-level await). For a readiness check that turns ready late; a start
   * that must go ahead or fail awaits {@link newKeysLoaded}.
   */
  readonly ready: Promise<void>;
  /**
   * Resolves once every key source this verifier opened itself (not one taken
   * over from `previous`) has keys: a JWKS fetched once, bounded by its
   * `jwks.timeoutMs` (a source that took over the last good keys of one whose
   * limits alone changed has them at once; key files and secrets import when
   * the verifier is built). A JWKS that answered a well-formed set with no
   * usable key counts as loaded: its tokens are refused, and `onKeySourceError`
   * says why. Rejects with the first that cannot, naming the issuer and the
   * reason (`JWKS fetch failed: timed out`). What a start awaits to fail fast
   * when the issuer is unreachable; a reload waits for it before it swaps, so an
   * issuer it adds never starts at 503.
   */
  readonly newKeysLoaded: Promise<void>;
  /** Whether every key source has keys now. */
  isReady(): boolean;
  /** Stops background refresh timers. */
  close(): void;
}
