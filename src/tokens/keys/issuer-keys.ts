import { hash } from 'node:crypto';
import { GatehouseError } from '../../errors.js';
import type { JwsAlgorithm } from '../jwt/algorithms.js';
import type { IssuerOptions } from '../jwt/options.js';
import { RemoteKeySource } from '../jwks/remote.js';
import type { SkippedKey } from './import.js';
import type { KeySelection, KeySet } from './key-set.js';
import { importPublicKeyFile, loadSecret, readPublicKeyFile, type PublicKeyFile } from './static.js';

/** What a holder of {@link IssuerKeys} hears from them. */
export interface KeyHooks {
  readonly onJwksFetch?: (result: 'ok' | 'error', reason?: string) => void;
  readonly onKeysChanged?: (next: KeySet, previous: KeySet | undefined) => void;
  /** The JWKS served keys the operator must hear of (private key material, Ed448, a shadowed kid); they were skipped. */
  readonly onJwksKeysRefused?: (refused: readonly SkippedKey[]) => void;
  /** A JWKS fetch installed a set with no usable key, where the set before had one (or there was none): every token is refused. */
  readonly onJwksNoUsableKeys?: (skipped: readonly SkippedKey[]) => void;
}

/**
 * One issuer's keys (a JWKS, a `publicKey` file or a `secret`), shared by every
 * verifier that holds them. A reload that leaves the key settings and the key
 * file's content as they were keeps them: the last good JWKS stays, even while
 * the endpoint is down, and nothing is fetched or imported again. Claim rules
 * (audience, skew, `typ`) are not part of it; changing them keeps the keys too.
 * A reload that changes only the `jwks` limits of the same `jwksUri` and
 * algorithms opens a new source (it fetches with the new limits) that serves
 * the old one's last good keys until its own fetch brings keys.
 */
export class IssuerKeys {
  /** Resolves once the keys have loaded once: at once for a `publicKey` or `secret`, which import when the keys open. */
  readonly ready: Promise<void>;
  /** Hash of what the keys come from: the algorithms, the source settings, the key file's path and content. */
  readonly fingerprint: string;
  /** Hash of the algorithms and `jwksUri` alone, for a JWKS: sources equal in it fetch the same keys, whatever their limits. */
  private readonly remoteOrigin: string | undefined;
  /** The verifiers holding these keys, oldest first. */
  private readonly holders: KeyHooks[] = [];
  private readonly remote: RemoteKeySource | undefined;
  private readonly staticKeys: KeySet | undefined;

  /**
   * The keys for `options`: `previous` (the same issuer's, before a reload) when
   * they come from the same place, otherwise new ones. A `publicKey` file is
   * read again each time: a reload is how a rotated file is picked up. Throws,
   * naming the file, when a `publicKey` file cannot be read or imported.
   */
  static open(
    options: IssuerOptions,
    algorithms: readonly JwsAlgorithm[],
    deps: { readonly now: () => number; readonly baseDir?: string },
    previous?: IssuerKeys,
  ): IssuerKeys {
    const keyFile = options.publicKey !== undefined ? readPublicKeyFile(options.publicKey, deps.baseDir) : undefined;
    const remote = options.jwksUri !== undefined ? { uri: options.jwksUri, limits: options.jwks } : null;
    const fingerprint = hash('sha256', JSON.stringify([algorithms, remote, options.secret ?? null, keyFile ?? null]), 'base64');
    const remoteOrigin = remote ? hash('sha256', JSON.stringify([algorithms, remote.uri]), 'base64') : undefined;
    const live = previous !== undefined && previous.holders.length > 0 ? previous : undefined;
    if (live?.fingerprint === fingerprint) return live;
    // Only the fetch limits changed: the keys the old source fetched are the ones this one would.
    const initialKeys = remoteOrigin !== undefined && live?.remoteOrigin === remoteOrigin ? live.remote?.current : undefined;
    return new IssuerKeys(options, algorithms, deps.now, { fingerprint, remoteOrigin, keyFile, initialKeys });
  }

  private constructor(
    options: IssuerOptions,
    algorithms: readonly JwsAlgorithm[],
    now: () => number,
    from: {
      readonly fingerprint: string;
      readonly remoteOrigin: string | undefined;
      readonly keyFile: PublicKeyFile | undefined;
      readonly initialKeys: KeySet | undefined;
    },
  ) {
    const { keyFile } = from;
    this.fingerprint = from.fingerprint;
    this.remoteOrigin = from.remoteOrigin;
    if (options.jwksUri !== undefined) {
      this.remote = new RemoteKeySource({
        jwksUri: options.jwksUri,
        algorithms,
        timeoutMs: options.jwks.timeoutMs,
        maxBytes: options.jwks.maxBytes,
        cacheMaxAgeSeconds: options.jwks.cacheMaxAge,
        cooldownSeconds: options.jwks.cooldown,
        now,
        initialKeys: from.initialKeys,
        // Fetch results are counted once, by the newest holder; every holder's caches hear of new keys.
        onFetch: (result, reason) => this.holders.at(-1)?.onJwksFetch?.(result, reason),
        onKeysRefused: (refused) => this.holders.at(-1)?.onJwksKeysRefused?.(refused),
        onNoUsableKeys: (skipped) => this.holders.at(-1)?.onJwksNoUsableKeys?.(skipped),
        onKeysChanged: (next, previous) => {
          for (const h of this.holders) h.onKeysChanged?.(next, previous);
        },
      });
      this.ready = this.remote.ready;
      return;
    }
    this.staticKeys = keyFile ? importPublicKeyFile(keyFile, algorithms) : loadSecret(options.secret!, algorithms);
    this.ready = Promise.resolve();
  }

  /** The keys now, read synchronously on the hot path; undefined until they have loaded. */
  get current(): KeySet | undefined {
    return this.remote ? this.remote.current : this.staticKeys;
  }

  /**
   * Resolves once the keys are there; rejects with the reason when the JWKS
   * fetch started when they opened failed (it ends within `jwks.timeoutMs`).
   * A fetch that brought a well-formed set with no usable key counts as
   * loaded: the issuer has withdrawn its keys, and its tokens are refused (401)
   * rather than held at 503. Static keys, and keys that opened with a
   * predecessor's set (see {@link IssuerKeys.open}), resolve at once. A reload
   * waits for it on every source it opened, so it never swaps in an issuer that
   * answers 503 and holds `/readyz` down.
   */
  async firstLoad(): Promise<void> {
    if (!this.remote || this.remote.current) return;
    await this.remote.firstFetch;
    // The words of the 'signing keys unavailable' log line (the verifier's hooks).
    if (!this.remote.current) throw new Error(`JWKS fetch failed: ${this.remote.lastError ?? 'the key source was closed'}`);
  }

  /** Whether a re-fetch may bring a `kid` that {@link current} lacks. */
  get isRemote(): boolean {
    return this.remote !== undefined;
  }

  isReady(): boolean {
    return this.current !== undefined;
  }

  /** Whether a signature that failed may be checked again after a JWKS re-fetch now (see RemoteKeySource). Never for static keys. */
  mayRefetchAfterBadSignature(nowMs: number): boolean {
    return this.remote !== undefined && this.remote.mayRefetchAfterBadSignature(nowMs);
  }

  /** See RemoteKeySource.selectAfterBadSignature; `undefined` at once for static keys. */
  async selectAfterBadSignature(kid: string | undefined, alg: JwsAlgorithm, failedKeyId: string): Promise<KeySelection | undefined> {
    return this.remote?.selectAfterBadSignature(kid, alg, failedKeyId);
  }

  /** Picks a key, waiting for the keys to load (and re-fetching for an unknown `kid`, see RemoteKeySource.select). */
  async select(kid: string | undefined, alg: JwsAlgorithm): Promise<KeySelection> {
    if (!this.remote) return this.staticKeys!.select(kid, alg);
    const s = await this.remote.select(kid, alg);
    if (s) return s;
    throw new GatehouseError('GH_KEYS_UNAVAILABLE', 'signing keys for this issuer are not available');
  }

  /**
   * Adds a holder: the verifier that opened the keys, then any that took them
   * over on a reload. Returns the release; the last release stops the JWKS
   * refresh. A reload that fails releases its hold and the old holder keeps all.
   */
  hold(hooks: KeyHooks): () => void {
    this.holders.push(hooks);
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      this.holders.splice(this.holders.indexOf(hooks), 1);
      if (this.holders.length === 0) this.remote?.close();
    };
  }
}
