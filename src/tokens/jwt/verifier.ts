import { GatehouseError } from '../../errors.js';
import { RejectedTokenCache, tokenCacheKey, VerifiedTokenCache } from '../cache.js';
import type { Identity } from '../identity.js';
import { describeSkipped } from '../keys/import.js';
import type { IssuerKeys } from '../keys/issuer-keys.js';
import { IssuerVerifier, SignatureInvalid, type VerifiedToken } from './issuer-verifier.js';
import { MAX_CACHE_ENTRIES, type IssuerOptions, type TokenVerifier, type VerifierOptions } from './options.js';
import { MAX_TOKEN_LENGTH, parseCompactJws, type ParsedToken } from './parse.js';
import { refuse } from './reject.js';

const DEFAULT_CACHE_ENTRIES = 10_000;

/** What a verifier built with `previous` (a reload) may take over. */
interface VerifierState {
  readonly byIssuer: ReadonlyMap<string, IssuerVerifier>;
  readonly maxEntries: number;
  cache: VerifiedTokenCache | undefined;
  /** Each entry holds the keys that refused the token, asked on a hit whether a re-fetch could change that. */
  rejected: RejectedTokenCache<IssuerKeys> | undefined;
}

const states = new WeakMap<TokenVerifier, VerifierState>();

/**
 * What `verify` throws for the shared, frozen SignatureInvalid: an error of the
 * caller's own. Application code annotates errors it is thrown (http-errors,
 * Koa's `ctx.throw(401, err)` set `status` and `expose` on them), which fails
 * on a frozen object only for forged tokens. The synchronous path keeps
 * returning the shared instance: it is the one a flood of forgeries drives.
 */
function ownCopy(err: unknown): unknown {
  return err instanceof SignatureInvalid ? refuse(err.code, err.message) : err;
}

/**
 * Builds the verifier for a set of trusted issuers: the one verification core
 * shared by the gateway and the service kit.
 *
 * With several issuers, a token's (unverified) `iss` picks one; that issuer's
 * algorithm allow-list, keys and claim rules then decide, the signature before
 * the claims (see IssuerVerifier.verify). Verified tokens are cached by
 * a hash of the token until their `exp`; tokens whose signature failed are
 * remembered in a separate bounded list so replays stay cheap.
 *
 * Throws synchronously (a plain Error naming the issuer) on options that can
 * never work: a duplicate issuer, a `publicKey` file that cannot be read or
 * does not import (naming the file too), a short secret, a non-https remote
 * `jwksUri`.
 *
 * With `opts.previous` (a reload), each issuer whose key settings are
 * unchanged keeps that verifier's keys, and when every issuer is unchanged the
 * token caches carry over too; see VerifierOptions.previous.
 *
 * @example
 * ```ts
 * const verifier = createTokenVerifier([{
 *   issuer: 'https://auth.example.com', audience: 'api-users',
 *   jwksUri: 'https://auth.example.com/jwks', algorithms: ['RS256'],
 *   clockSkew: 30, jwks: { timeoutMs: 5000, maxBytes: 524288, cacheMaxAge: 600, cooldown: 30 },
 * }]);
 * const identity = await verifier.verify(token); // throws GatehouseError
 * ```
 */
export function createTokenVerifier(issuers: readonly IssuerOptions[], opts: VerifierOptions = {}): TokenVerifier {
  const now = opts.now ?? Date.now;
  const hooks = opts.hooks ?? {};
  const maxEntries = opts.cacheMaxEntries ?? DEFAULT_CACHE_ENTRIES;
  // Checked before any key source opens: the caches allocate index arrays of this size up front.
  if (!Number.isInteger(maxEntries) || maxEntries < 0 || maxEntries > MAX_CACHE_ENTRIES) {
    throw new TypeError(`cacheMaxEntries must be a whole number from 0 to ${MAX_CACHE_ENTRIES}, got ${maxEntries}`);
  }
  const inherited = opts.previous ? states.get(opts.previous) : undefined;
  const byIssuer = new Map<string, IssuerVerifier>();
  // The caches are chosen once the issuers are known; key changes reach them through here.
  const state: VerifierState = { byIssuer, maxEntries, cache: undefined, rejected: undefined };
  const releases: (() => void)[] = [];
  try {
    for (const options of issuers) {
      if (byIssuer.has(options.issuer)) throw new Error(`issuer ${options.issuer} is configured twice`);
      const name = options.name ?? options.issuer;
      const issuer = new IssuerVerifier(options, { now, baseDir: opts.baseDir }, inherited?.byIssuer.get(options.issuer));
      releases.push(
        issuer.hold({
          onJwksFetch: (result, reason) => {
            hooks.onJwksFetch?.(name, result);
            if (result === 'error') hooks.onKeySourceError?.(name, `JWKS fetch failed: ${reason ?? 'error'}`);
          },
          onJwksKeysRefused: (refused) => hooks.onKeysSkipped?.(name, `JWKS keys not used: ${describeSkipped(refused)}`),
          onJwksNoUsableKeys: (skipped) =>
            hooks.onKeySourceError?.(
              name,
              `JWKS has no usable key for the allowed algorithms: every token is refused${skipped.length > 0 ? ` (${describeSkipped(skipped)})` : ''}`,
            ),
          onKeysChanged: (next, previous) => {
            // A refresh that changed nothing (the usual case) leaves both caches alone.
            if (next.sameKeysAs(previous)) return;
            // A new set can make a once-bad signature good; a withdrawn key must stop vouching.
            state.rejected?.clear();
            if (previous) state.cache?.dropWithdrawnKeys(options.issuer, next.ids);
          },
        }),
      );
      byIssuer.set(options.issuer, issuer);
    }
    // The caches carry over only when every issuer is unchanged, keys and rules: the old and the new
    // verifier then decide every token alike, so what either stores while both run holds for both.
    const takesOver =
      inherited !== undefined &&
      inherited.maxEntries === maxEntries &&
      inherited.byIssuer.size === byIssuer.size &&
      [...byIssuer.values()].every((v) => {
        const before = inherited.byIssuer.get(v.issuer);
        return before !== undefined && before.keys === v.keys && before.fingerprint === v.fingerprint;
      });
    state.cache = takesOver ? inherited.cache : maxEntries > 0 ? new VerifiedTokenCache(maxEntries) : undefined;
    state.rejected = takesOver ? inherited.rejected : maxEntries > 0 ? new RejectedTokenCache(Math.max(1000, Math.ceil(maxEntries / 4))) : undefined;
  } catch (err) {
    // Whatever failed, the key sources opened above must not go on fetching with no one to close them.
    for (const release of releases) release();
    throw err;
  }
  const all = [...byIssuer.values()];
  const { cache, rejected } = state;

  // The last token hashed and its cache key. A client resending its token (a
  // service with one token, a keep-alive connection) and `verify` following an
  // undecided `verifySync` skip the SHA-256 (0.8 µs for a 900-character token); any other
  // token costs one string comparison. The key is a pure function of the token,
  // so the memo can never answer for another token.
  let lastToken: string | undefined;
  let lastKey = '';
  // The last token `verifySync` looked up and could not decide: `verify` follows
  // with it, and a second lookup would also count a second cache miss.
  let missToken: string | undefined;

  function cacheKeyOf(token: string): string {
    if (token !== lastToken) {
      lastKey = tokenCacheKey(token);
      lastToken = token;
    }
    return lastKey;
  }

  function checkSize(token: string): void {
    if (typeof token !== 'string' || token.length === 0) throw refuse('GH_TOKEN_MALFORMED', 'token is empty');
    // Before hashing: an oversized token costs nothing beyond this comparison.
    if (token.length > MAX_TOKEN_LENGTH) throw refuse('GH_TOKEN_MALFORMED', 'token too large');
  }

  /**
   * Cache lookup: the identity on a hit, the refusal of a known bad signature,
   * undefined on a miss. A known bad signature under fetched keys counts as a
   * miss while its keys may be re-fetched (at most once per cooldown): the
   * issuer may have published the key since, and a client resending the same
   * token must not stay refused until the next background refresh.
   */
  function lookup(key: string, nowMs: number): Identity | GatehouseError | undefined {
    const hit = cache!.get(key, nowMs);
    if (hit) {
      hooks.onCacheLookup?.(true);
      return hit.identity;
    }
    const refusedBy = rejected!.get(key);
    const known = refusedBy !== undefined && !refusedBy.mayRefetchAfterBadSignature(nowMs);
    hooks.onCacheLookup?.(known);
    return known ? SignatureInvalid.instance : undefined;
  }

  // With one issuer there is nothing to choose, and the claims can wait until the signature
  // holds (its claim checks still refuse any other `iss`): a forgery is never parsed past its header.
  const onlyIssuer = all.length === 1 ? all[0] : undefined;

  function issuerOf(parsed: ParsedToken): IssuerVerifier {
    if (onlyIssuer !== undefined) return onlyIssuer;
    const iss = parsed.payload.iss;
    const issuer = typeof iss === 'string' ? byIssuer.get(iss) : undefined;
    if (!issuer) throw refuse('GH_TOKEN_INVALID', 'issuer not accepted');
    return issuer;
  }

  /** A bad signature stays bad until the keys change. */
  function rememberBadSignature(key: string | undefined, issuer: IssuerVerifier): void {
    if (key !== undefined) rejected!.add(key, issuer.keys);
  }

  function remember(key: string | undefined, issuer: IssuerVerifier, verified: VerifiedToken, nowMs: number): Identity {
    if (key !== undefined) {
      cache!.set(
        key,
        { identity: verified.identity, issuer: issuer.issuer, keyId: verified.keyId, expiresAtMs: verified.validUntilMs },
        nowMs,
      );
    }
    return verified.identity;
  }

  /**
   * Decides without a promise whenever no key has to be fetched: a cached
   * answer, or a full verification against keys already loaded (signature
   * checks are synchronous anyway). Undefined only while keys load, for an
   * unknown `kid` that may warrant a JWKS fetch, and for a signature that
   * failed under fetched keys while a re-fetch is allowed (at most once per
   * cooldown). A refusal is returned, not thrown: V8 counts a function's calls
   * toward optimizing it when it returns, so one that always throws (every
   * request of a flood of forgeries) would keep this whole path in the
   * interpreter.
   */
  function verifySync(token: string): Identity | GatehouseError | undefined {
    try {
      checkSize(token);
      const nowMs = now();
      let key: string | undefined;
      if (cache) {
        key = cacheKeyOf(token);
        const known = lookup(key, nowMs);
        if (known !== undefined) return known;
      }
      const parsed = parseCompactJws(token);
      const issuer = issuerOf(parsed);
      const verified = issuer.verifySync(parsed, token, nowMs);
      if (verified instanceof SignatureInvalid) {
        rememberBadSignature(key, issuer);
        return verified;
      }
      if (verified === undefined) {
        missToken = token;
        return undefined;
      }
      return remember(key, issuer, verified, nowMs);
    } catch (err) {
      if (err instanceof GatehouseError) return err;
      throw err;
    }
  }

  async function verify(token: string): Promise<Identity> {
    checkSize(token);
    const nowMs = now();
    let key: string | undefined;
    if (cache) {
      key = cacheKeyOf(token);
      if (missToken !== undefined && token === missToken) {
        // Just looked up and left undecided by verifySync: go straight to verification.
        missToken = undefined;
      } else {
        const known = lookup(key, nowMs);
        if (known instanceof GatehouseError) throw ownCopy(known);
        if (known !== undefined) return known;
      }
    }
    const parsed = parseCompactJws(token);
    const issuer = issuerOf(parsed);
    let verified: VerifiedToken;
    try {
      verified = await issuer.verify(parsed, token, nowMs);
    } catch (err) {
      if (err instanceof SignatureInvalid) rememberBadSignature(key, issuer);
      throw ownCopy(err);
    }
    return remember(key, issuer, verified, nowMs);
  }

  // Keys taken over from `previous` serve as they did (kept while their JWKS is down); only the sources opened here are waited for.
  const opened = all.filter((v) => inherited?.byIssuer.get(v.issuer)?.keys !== v.keys);
  const newKeysLoaded = Promise.all(
    opened.map((v) =>
      v.keys.firstLoad().catch((err: unknown) => {
        throw new Error(`issuer ${v.name}: ${(err as Error).message}`, { cause: err });
      }),
    ),
  ).then(() => undefined);
  newKeysLoaded.catch(() => {}); // observed by whoever awaits it
  const verifier: TokenVerifier = {
    verify,
    verifySync,
    ready: Promise.all(all.map((v) => v.ready)).then(() => undefined),
    newKeysLoaded,
    isReady: () => all.every((v) => v.isReady()),
    close: () => {
      for (const release of releases.splice(0)) release();
    },
  };
  states.set(verifier, state);
  return verifier;
}
