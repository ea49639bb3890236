import type { CookieAttributes } from './cookies.js';
import type { Keyring } from './crypto.js';
import { CookieSealer } from './sealed-cookie.js';

/** What a login needs back at the callback: sealed in a cookie of its own between the two. */
export interface LoginTransaction {
  readonly state: string;
  readonly nonce: string;
  readonly verifier: string;
  readonly returnTo: string;
  readonly startedAt: number;
}

export interface LoginTransactionsOptions {
  /** Keys for this purpose only (`keyring.derive('login-transaction')`). */
  readonly keyring: Keyring;
  /** How long a login may take, in seconds (cookie lifetime and a check at the callback). */
  readonly ttlSeconds: number;
  readonly now: () => number;
  /** Most logins in flight per browser; beyond it the oldest is dropped. Default 4. */
  readonly maxPending?: number;
  readonly attributes?: Omit<CookieAttributes, 'maxAgeSeconds'>;
}

const PREFIX = '__Host-gh_login_';
// The name carries the start of `state` (random, and in the login URL anyway), so the callback
// finds its own transaction among several; the sealed value still has to hold the whole state.
const ID_LENGTH = 16;
const STATE = /^[A-Za-z0-9_-]{16,256}$/;
// The names begin() makes: `state` is base64url (openid-client's randomState), so an id is
// ID_LENGTH of its characters. Any other `__Host-gh_login_…` cookie was set by someone else
// (its name need not even be a valid cookie token, which clearCookie refuses): left alone.
const OWN_NAME = new RegExp(`^${PREFIX}[A-Za-z0-9_-]{${ID_LENGTH}}\\.0$`);

/**
 * Login transactions (state, nonce, PKCE verifier, return_to), one sealed cookie
 * each, so several logins can be in flight in one browser (tabs opened together
 * after a session ended) without one overwriting another's. The callback takes
 * the transaction its `state` names, once. At most `maxPending` are kept.
 */
export class LoginTransactions {
  private readonly maxPending: number;

  constructor(private readonly o: LoginTransactionsOptions) {
    this.maxPending = o.maxPending ?? 4;
  }

  /** True for a transaction cookie name as {@link begin} makes them. (The whole `__Host-gh_` namespace is never forwarded upstream.) */
  isOwnCookie(name: string): boolean {
    return OWN_NAME.test(name);
  }

  /** Set-Cookie values starting `t`, and clearing expired, unreadable or surplus (oldest) transactions the browser holds. */
  async begin(t: LoginTransaction, present: ReadonlyMap<string, string>): Promise<string[]> {
    const out: string[] = [];
    const held: { id: string; startedAt: number }[] = [];
    let seen = 0;
    for (const name of present.keys()) {
      if (!this.isOwnCookie(name)) continue;
      const id = name.slice(PREFIX.length, -2);
      // Bounded work: past twice the allowed number, cookies are cleared without being decrypted.
      const open = ++seen > this.maxPending * 2 ? undefined : await this.open(id, present);
      if (open === undefined) out.push(...this.sealer(id).clear(present));
      else held.push({ id, startedAt: open.startedAt });
    }
    held.sort((a, b) => a.startedAt - b.startedAt);
    for (const { id } of held.slice(0, Math.max(0, held.length - (this.maxPending - 1)))) out.push(...this.sealer(id).clear(present));
    out.push(...(await this.sealer(idOf(t.state)).seal(t, this.o.ttlSeconds)));
    return out;
  }

  /**
   * The transaction `state` names, if this browser holds it, unexpired and
   * matching in full; the Set-Cookie values that clear it either way (single use).
   */
  async take(state: string | null, present: ReadonlyMap<string, string>): Promise<{ transaction: LoginTransaction | undefined; setCookies: string[] }> {
    if (state === null || !STATE.test(state)) return { transaction: undefined, setCookies: [] };
    const id = idOf(state);
    const t = await this.open(id, present);
    const setCookies = this.sealer(id).clear(present);
    return { transaction: t !== undefined && t.state === state ? t : undefined, setCookies };
  }

  private async open(id: string, present: ReadonlyMap<string, string>): Promise<LoginTransaction | undefined> {
    let t: Partial<LoginTransaction> | undefined;
    try {
      t = (await this.sealer(id).open(present)) as Partial<LoginTransaction> | undefined;
    } catch {
      return undefined;
    }
    if (t === undefined || typeof t.state !== 'string' || typeof t.startedAt !== 'number') return undefined;
    if (this.o.now() - t.startedAt > this.o.ttlSeconds * 1000) return undefined;
    return t as LoginTransaction;
  }

  private sealer(id: string): CookieSealer {
    return new CookieSealer({ keyring: this.o.keyring, name: `${PREFIX}${id}`, maxChunks: 1, attributes: this.o.attributes });
  }
}

function idOf(state: string): string {
  return state.slice(0, ID_LENGTH);
}
