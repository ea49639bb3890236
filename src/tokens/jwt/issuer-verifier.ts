import { hash } from 'node:crypto';
import { GatehouseError } from '../../errors.js';
import type { Identity } from '../identity.js';
import { IssuerKeys, type KeyHooks } from '../keys/issuer-keys.js';
import type { KeySelection } from '../keys/key-set.js';
import { isSupportedAlgorithm, verifySignature, type JwsAlgorithm } from './algorithms.js';
import { checkClaims, identityFromClaims, type ClaimRules } from './claims.js';
import type { ParsedToken } from './parse.js';
import { refuse } from './reject.js';
import { assertUsableIssuerOptions, type IssuerOptions } from './options.js';

/** A verified token: the identity, and the key that vouched for it (for cache invalidation). */
export interface VerifiedToken {
  readonly identity: Identity;
  readonly keyId: string;
  /** Epoch ms until which the verdict holds by the clock: `exp`, or earlier when `maxTokenAge` ends it first. */
  readonly validUntilMs: number;
}

export interface IssuerVerifierDeps {
  readonly now: () => number;
  readonly baseDir?: string;
}

/**
 * Header parameters that carry or point at keys (RFC 7515 §4.1.2–4.1.6). Taking
 * a key from the token lets the token vouch for itself (RFC 8725 §3.10), so a
 * token carrying any of them is refused outright rather than quietly ignored:
 * no legitimate issuer of access tokens for this gateway needs them.
 */
const EMBEDDED_KEY_HEADERS = ['jwk', 'jku', 'x5u', 'x5c'] as const;

/**
 * A signature that does not verify under a key we hold: true for this token
 * until the key set changes, so the verifier may remember it. One frozen
 * instance, {@link SignatureInvalid.instance}, serves every such refusal:
 * building an Error, even without its stack, was 2–3 µs of a forged request,
 * the path an attacker drives at will.
 */
export class SignatureInvalid extends GatehouseError {
  static readonly instance: SignatureInvalid = SignatureInvalid.build();

  private constructor() {
    super('GH_TOKEN_INVALID', 'signature invalid');
  }

  /** Without a stack trace, like every refusal (see reject.ts). */
  private static build(): SignatureInvalid {
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    try {
      return Object.freeze(new SignatureInvalid());
    } finally {
      Error.stackTraceLimit = limit;
    }
  }
}

/** Verifies tokens for one configured issuer against its keys and claim rules. */
export class IssuerVerifier {
  readonly issuer: string;
  readonly name: string;
  /** The issuer's keys, shared with the verifier a reload replaced when they come from the same place. */
  readonly keys: IssuerKeys;
  /** Hash of the options and the keys' fingerprint: equal ones decide every token alike. */
  readonly fingerprint: string;
  private readonly allowed: ReadonlySet<JwsAlgorithm>;
  private readonly rules: ClaimRules;
  private readonly requireTyp: boolean;

  /**
   * Throws (a plain Error naming the issuer or file) on options that can never
   * work. With `previous` (the same issuer's, before a reload), its keys are
   * taken over when they come from the same place (see IssuerKeys.open).
   */
  constructor(options: IssuerOptions, deps: IssuerVerifierDeps, previous?: IssuerVerifier) {
    assertUsableIssuerOptions(options);
    this.issuer = options.issuer;
    this.name = options.name ?? options.issuer;
    const algorithms = options.algorithms.filter(isSupportedAlgorithm);
    if (algorithms.length !== options.algorithms.length) {
      throw new Error(`issuer ${this.name}: unsupported algorithm in ${options.algorithms.join(', ')}`);
    }
    this.allowed = new Set(algorithms);
    this.rules = {
      issuer: options.issuer,
      audiences: new Set(typeof options.audience === 'string' ? [options.audience] : options.audience),
      clockSkewSeconds: options.clockSkew,
      maxTokenAgeSeconds: options.maxTokenAge,
    };
    this.requireTyp = options.requireTyp !== undefined;
    try {
      this.keys = IssuerKeys.open(options, algorithms, deps, previous?.keys);
    } catch (err) {
      // A key file that cannot be read or imported: say whose, as for the options above.
      throw new Error(`issuer ${this.name}: ${(err as Error).message}`, { cause: err });
    }
    this.fingerprint = hash('sha256', JSON.stringify([options, this.keys.fingerprint]), 'base64');
  }

  get ready(): Promise<void> {
    return this.keys.ready;
  }

  /** See IssuerKeys.hold; every verifier built on this one holds its keys once. */
  hold(hooks: KeyHooks): () => void {
    return this.keys.hold(hooks);
  }

  isReady(): boolean {
    return this.keys.isReady();
  }

  /**
   * Checks header, signature and claims. The header comes first (it is cheap
   * and picks the key); then the signature, so a forgery is refused without
   * its claims ever being parsed; then the claims. Where no key can be chosen
   * yet, the claims come first instead: an unknown `kid` only triggers a JWKS
   * fetch for a token whose claims pass, and a token that cannot be checked is
   * refused for its claims when those are wrong too (expired, say).
   *
   * A signature that fails under fetched keys may mean the issuer published
   * new material (under the same `kid`, or under the `kid` this token names
   * while it fell back to an unnamed key): the JWKS is re-fetched, within the
   * cooldown of unknown kids, and the signature checked again if that brought
   * another key.
   */
  async verify(parsed: ParsedToken, token: string, nowMs: number): Promise<VerifiedToken> {
    const alg = this.checkHeader(parsed);
    const kid = parsed.header.kid as string | undefined;
    let selection = this.selectSync(kid, alg);
    if (selection === undefined) {
      this.checkClaims(parsed, nowMs);
      selection = await this.keys.select(kid, alg);
    }
    let verified = this.checkSignatureAndClaims(selection, alg, parsed, token, nowMs);
    if (verified instanceof SignatureInvalid && selection.status === 'found' && this.keys.isRemote) {
      const again = await this.keys.selectAfterBadSignature(kid, alg, selection.key.id);
      if (again !== undefined) verified = this.checkSignatureAndClaims(again, alg, parsed, token, nowMs);
    }
    if (verified instanceof SignatureInvalid) throw verified;
    return verified;
  }

  /**
   * The same checks without a promise, for when the key is at hand (the usual
   * case once keys have loaded). Returns `undefined` when only {@link verify}
   * can tell: the keys are still loading, the `kid` is unknown and a JWKS
   * re-fetch may bring it, or a signature failed under fetched keys while a
   * re-fetch is allowed (once per cooldown, or joining one under way). Throws
   * the same refusals as `verify`, except that a signature that fails is
   * returned (a flood of forgeries must not keep the caller in V8's
   * interpreter; see TokenVerifier.verifySync).
   */
  verifySync(parsed: ParsedToken, token: string, nowMs: number): VerifiedToken | SignatureInvalid | undefined {
    const alg = this.checkHeader(parsed);
    const selection = this.selectSync(parsed.header.kid as string | undefined, alg);
    if (selection === undefined) {
      // Refused here rather than after a wait: `verify` would check the claims before any fetch anyway.
      this.checkClaims(parsed, nowMs);
      return undefined;
    }
    const verified = this.checkSignatureAndClaims(selection, alg, parsed, token, nowMs);
    // Within the cooldown a forgery stays on this path: two comparisons, no promise.
    if (verified === SignatureInvalid.instance && this.keys.mayRefetchAfterBadSignature(nowMs)) return undefined;
    return verified;
  }

  /** The protected header; returns the (allowed) algorithm. */
  private checkHeader(parsed: ParsedToken): JwsAlgorithm {
    const { header } = parsed;
    const alg = header.alg;
    // The allow-list decides; `none`, `None`, `NONE`… are simply not in it.
    if (!isSupportedAlgorithm(alg) || !this.allowed.has(alg)) throw invalid('algorithm not allowed');
    for (const name of EMBEDDED_KEY_HEADERS) {
      if (header[name] !== undefined) throw invalid('embedded key headers are not accepted');
    }
    if (header.crit !== undefined) throw invalid('unsupported critical header');
    const kid = header.kid;
    if (kid !== undefined && typeof kid !== 'string') throw refuse('GH_TOKEN_MALFORMED', 'kid header is not a string');
    if (this.requireTyp && !isAccessTokenTyp(header.typ)) throw invalid('token type not accepted');
    return alg;
  }

  private checkSignatureAndClaims(
    selection: KeySelection,
    alg: JwsAlgorithm,
    parsed: ParsedToken,
    token: string,
    nowMs: number,
  ): VerifiedToken | SignatureInvalid {
    if (selection.status !== 'found') {
      // No key to check the signature with: the claims still speak first, so an expired token is refused as expired.
      this.checkClaims(parsed, nowMs);
      throw invalid(selection.status === 'unknown-kid' ? 'unknown signing key' : selection.reason);
    }
    if (!verifySignature(alg, selection.key.material, parsed.signingInput, parsed.signature)) return SignatureInvalid.instance;
    this.checkClaims(parsed, nowMs);
    const identity = identityFromClaims(parsed.payload as Record<string, unknown>, token);
    return { identity, keyId: selection.key.id, validUntilMs: this.validUntilMs(parsed.payload, identity.expiresAt) };
  }

  /**
   * When a cached verdict must be re-decided: at `exp`, or once the token is older
   * than `maxTokenAge` (counted from `iat`, with the skew `checkClaims` allows),
   * whichever comes first. Otherwise a cached token would outlive its age limit.
   */
  private validUntilMs(payload: Readonly<Record<string, unknown>>, exp: number): number {
    const maxAge = this.rules.maxTokenAgeSeconds;
    const end = maxAge === undefined ? exp : Math.min(exp, (payload.iat as number) + this.rules.clockSkewSeconds + maxAge);
    return end * 1000;
  }

  /** Decodes the claims on first use (GH_TOKEN_MALFORMED if they are not a JSON object) and checks them. */
  private checkClaims(parsed: ParsedToken, nowMs: number): void {
    checkClaims(parsed.payload, this.rules, nowMs / 1000);
  }

  /** The hot path: keys already loaded and the kid known, no promise involved. */
  private selectSync(kid: string | undefined, alg: JwsAlgorithm): KeySelection | undefined {
    const keys = this.keys.current;
    if (!keys) return undefined;
    const s = keys.select(kid, alg);
    return s.status === 'unknown-kid' && this.keys.isRemote ? undefined : s;
  }
}

/** RFC 9068 §2.1: `at+jwt`, case-insensitive, with or without the `application/` prefix (RFC 7515 §4.1.9). */
function isAccessTokenTyp(typ: unknown): boolean {
  if (typeof typ !== 'string') return false;
  const t = typ.toLowerCase();
  return t === 'at+jwt' || t === 'application/at+jwt';
}

function invalid(message: string): GatehouseError {
  return refuse('GH_TOKEN_INVALID', message);
}
