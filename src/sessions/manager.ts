import type { CookieAttributes } from './cookies.js';
import type { Keyring } from './crypto.js';
import type { RefreshCoordinator, RefreshGrant } from './refresh.js';
import type { SessionData, SessionSummary, SessionTimeouts } from './session.js';
import type { Clock, SessionStore } from './store.js';

/** A session found on a request, with the cookies the response must carry. */
export interface ResumedSession {
  readonly data: SessionData;
  /** Set-Cookie values for this response (a re-sealed stateless session); often empty. */
  readonly setCookies: readonly string[];
  /**
   * The error of a refresh that failed while the access token was still valid
   * (see `usableAfterFailedRefresh`): the request goes on with that token, and
   * the failure is only reported (logged).
   */
  readonly refreshFailure?: unknown;
}

/** A session ended from another one (`DELETE /auth/sessions…`): what is left to revoke at the provider. */
export interface EndedSession {
  /** Its refresh token, when the gateway holds it (a stateless session's list entry written before it was kept has none). */
  readonly refreshToken?: string;
}

/** An ended session holding `refreshToken`, if any. */
export function endedSession(refreshToken: string | undefined): EndedSession {
  return refreshToken === undefined ? {} : { refreshToken };
}

/** A resumed session, carrying `refreshFailure` only when there was one. */
export function resumedSession(data: SessionData, setCookies: readonly string[], refreshFailure: unknown): ResumedSession {
  return refreshFailure === undefined ? { data, setCookies } : { data, setCookies, refreshFailure };
}

/**
 * Browser sessions, whichever way they are kept. Both modes enforce idle and
 * absolute timeouts and refresh tokens transparently.
 *
 * Errors: GH_SESSION_INVALID (unreadable cookie), GH_SESSION_EXPIRED (timed
 * out, logged out, or the provider refused the refresh) — answer both with
 * `clearCookies()`; GH_SESSION_STORE_UNAVAILABLE and GH_PROVIDER_UNAVAILABLE
 * (503, the session is kept).
 */
export interface SessionManager {
  readonly mode: 'stateful' | 'stateless';
  /** True for cookie names this manager owns: they are never forwarded upstream. */
  isSessionCookie(name: string): boolean;
  /**
   * Starts a session under a fresh id (or a fresh seal) and ends the one the
   * browser presented, if any: a login never adopts a session id it was given.
   */
  create(data: SessionData, cookies: ReadonlyMap<string, string>): Promise<string[]>;
  /** The request's session with a usable access token; undefined when no session cookie was sent. */
  resume(cookies: ReadonlyMap<string, string>): Promise<ResumedSession | undefined>;
  /**
   * {@link resume} without waiting, for the common case only: a known session,
   * already decrypted, whose store answer is held in process, within its
   * timeouts, needing neither refresh nor a lastSeenAt write. Anything else
   * (including every error) answers `undefined`: call `resume`.
   */
  resumeSync(cookies: ReadonlyMap<string, string>): ResumedSession | undefined;
  /** Ends the presented session; resolves to its data (to revoke its refresh token) when there was one. */
  destroy(cookies: ReadonlyMap<string, string>): Promise<SessionData | undefined>;
  /**
   * The session the cookies themselves carry, read without the store, or
   * undefined: stateless cookies hold the whole session (a logout with the
   * store down still revokes its refresh token); a stateful cookie is only an id.
   */
  carriedSession(cookies: ReadonlyMap<string, string>): Promise<SessionData | undefined>;
  /** The user's sessions, the current one among them. */
  list(current: SessionData): Promise<SessionSummary[]>;
  /** Ends one of the user's sessions by its handle; undefined when the user has none by that handle. */
  destroyHandle(current: SessionData, handle: string): Promise<EndedSession | undefined>;
  /** Ends every other session of the user; resolves to those listed that ended. */
  destroyOthers(current: SessionData): Promise<EndedSession[]>;
  /** Set-Cookie values deleting the session cookies (those present, or all). */
  clearCookies(cookies?: ReadonlyMap<string, string>): string[];
  close(): Promise<void>;
}

/** What both modes are built from. */
export interface SessionManagerDeps {
  /** Stateful: the sessions. Stateless: logout markers, refresh results, the refresh lock and the per-user session index. */
  readonly store: SessionStore;
  /** Master keys; each mode derives its own subkeys. */
  readonly keyring: Keyring;
  readonly timeouts: SessionTimeouts;
  readonly grant: RefreshGrant;
  readonly coordinator: RefreshCoordinator;
  readonly now: Clock;
  /** Refresh when the access token expires within this many seconds. */
  readonly skewSeconds: number;
  /** `lastSeenAt` is rewritten at most this often (fewer writes; idle timeout precision). */
  readonly touchIntervalSeconds: number;
  /** Cookie attribute overrides (tests of the `Secure` rule only). */
  readonly cookieAttributes?: Omit<CookieAttributes, 'maxAgeSeconds'>;
}
