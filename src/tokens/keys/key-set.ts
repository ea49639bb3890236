import type { JwsAlgorithm, KeyMaterial } from '../jwt/algorithms.js';

/** One verification key, imported once, with the algorithms it may verify for its issuer. */
export interface VerificationKey {
  /** Stable identity of the key across refreshes: `kid#thumbprint` (RFC 7638), so new material under an old kid is a new key. */
  readonly id: string;
  readonly kid: string | undefined;
  /** Allowed algorithms (issuer allow-list ∩ key type ∩ the JWK's own `alg`). Never empty. */
  readonly algorithms: ReadonlySet<JwsAlgorithm>;
  readonly material: KeyMaterial;
}

/** Outcome of picking a key for a token header. */
export type KeySelection =
  | { readonly status: 'found'; readonly key: VerificationKey }
  /** The token names a `kid` this set does not have: a re-fetch may help. */
  | { readonly status: 'unknown-kid' }
  /** No key can verify this token, and no re-fetch would change that. */
  | { readonly status: 'no-key'; readonly reason: string };

/**
 * An immutable set of keys for one issuer, indexed by `kid`. Replaced whole on
 * each JWKS refresh, so a request never sees a half-updated set.
 */
export class KeySet {
  readonly keys: readonly VerificationKey[];
  readonly ids: ReadonlySet<string>;
  private readonly byKid = new Map<string, VerificationKey[]>();
  /** Keys published without a `kid` (a PEM file, a secret). */
  private readonly unnamed: VerificationKey[] = [];

  constructor(keys: readonly VerificationKey[]) {
    this.keys = keys;
    this.ids = new Set(keys.map((k) => k.id));
    for (const key of keys) {
      if (key.kid === undefined) {
        this.unnamed.push(key);
        continue;
      }
      const list = this.byKid.get(key.kid);
      if (list) list.push(key);
      else this.byKid.set(key.kid, [key]);
    }
  }

  /** Whether both sets hold exactly the same keys. */
  sameKeysAs(other: KeySet | undefined): boolean {
    if (!other || other.ids.size !== this.ids.size) return false;
    for (const id of this.ids) if (!other.ids.has(id)) return false;
    return true;
  }

  get size(): number {
    return this.keys.length;
  }

  /**
   * Picks the key for `kid` and `alg`. Without a `kid`, only a set holding
   * exactly one key for `alg` answers: guessing among several would let a
   * token choose its key. A `kid` the set does not name falls back to its one
   * unnamed key, if it has exactly one: a configured PEM key has no kid, while
   * the tokens its issuer signs usually carry one.
   */
  select(kid: string | undefined, alg: JwsAlgorithm): KeySelection {
    if (kid !== undefined) {
      const list = this.byKid.get(kid);
      if (list) {
        for (const key of list) if (key.algorithms.has(alg)) return { status: 'found', key };
        return { status: 'no-key', reason: 'algorithm not allowed for this key' };
      }
      if (this.unnamed.length === 0) return { status: 'unknown-kid' };
      const only = this.onlyFor(this.unnamed, alg);
      return only.status === 'found' ? only : { status: 'unknown-kid' };
    }
    return this.onlyFor(this.keys, alg);
  }

  private onlyFor(keys: readonly VerificationKey[], alg: JwsAlgorithm): KeySelection {
    let only: VerificationKey | undefined;
    for (const key of keys) {
      if (!key.algorithms.has(alg)) continue;
      if (only) return { status: 'no-key', reason: 'token has no kid and several keys match' };
      only = key;
    }
    return only ? { status: 'found', key: only } : { status: 'no-key', reason: 'no key for this algorithm' };
  }
}
