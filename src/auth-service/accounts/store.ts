/** A user account of the authorization service. */
export interface Account {
  /** Stable subject identifier (`sub`); never reused. */
  readonly id: string;
  /** Login name, unique, compared case-sensitively after NFKC normalization. */
  readonly username: string;
  readonly createdAt: number;
  /** When the password was last set, epoch seconds: sign-ins before it no longer count (see provider.ts). */
  readonly updatedAt: number;
}

/** Where accounts live. The embedded default is a SQLite file; see `sqlite-store.ts`. */
export interface AccountStore {
  findById(id: string): Promise<Account | undefined>;
  /** The account and its password hash, for login. */
  findForLogin(username: string): Promise<{ account: Account; passwordHash: string } | undefined>;
  add(username: string, passwordHash: string): Promise<Account>;
  setPassword(username: string, passwordHash: string): Promise<boolean>;
  remove(username: string): Promise<boolean>;
  list(): Promise<Account[]>;
  close(): Promise<void>;
}

/** Usernames: 1–128 characters, no control characters or surrounding whitespace. */
export function normalizeUsername(username: string): string {
  const name = username.normalize('NFKC');
  // eslint-disable-next-line no-control-regex
  if (name.length === 0 || name.length > 128 || name.trim() !== name || /[\x00-\x1f\x7f]/.test(name)) {
    throw new Error('invalid username');
  }
  return name;
}
