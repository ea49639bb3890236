import type { CookieAttributes } from './cookies.js';
import type { Keyring } from './crypto.js';
import type { RefreshCoordinator, RefreshGrant } from './refresh.js';
import { providerSessionOf, type SessionData, type SessionSummary, type SessionTimeouts } from './session.js';
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

/** A session that ended: what is left to revoke at the provider. */
export interface EndedSession {
  /**
   * Its refresh token, when the gateway holds it (a stateless session's list entry written before it was
   * kept has none) and revoking it cannot end a session that lives on (see {@link endedSessions}).
   */
  readonly refreshToken?: string;
}

/** A session just created, with the other sessions the login ended (see `SessionManager.create`). */
export interface CreatedSession {
  /** Set-Cookie values for the new session. */
  readonly setCookies: string[];
  readonly ended: EndedSession[];
}

/** What decides whether a session's refresh token may be revoked: the token, and the provider session it came from. */
export interface GrantHolder {
  readonly refreshToken?: string;
  /** The ID token's `sid` (`providerSessionOf`); undefined when the provider sent none. */
  readonly sid?: string;
}

/** An ended session holding `refreshToken`, if any. */
export function endedSession(refreshToken: string | undefined): EndedSession {
  return refreshToken === undefined ? {} : { refreshToken };
}

/** A session's refresh token and provider session. */
export function grantHolderOf(data: SessionData): GrantHolder {
  return { refreshToken: data.tokens.refreshToken, sid: providerSessionOf(data) };
}

/**
 * `ending` as ended sessions, each keeping its refresh token only when revoking it cannot end a
 * session in `remaining`. A provider may give two logins one grant: oidc-provider reuses the grant
 * within one browser session at the provider and one client (two tabs that logged in together, a
 * login after the gateway cookie was cleared), and revoking a refresh token revokes its whole grant.
 * Ending one of those gateway sessions must not kill the other at its next refresh. The gateway
 * sees no grant, only the ID token's `sid`, the provider session: one provider session and client
 * hold one grant, and another provider session another. So a token is revoked only when its session
 * has a sid and every remaining one has a different sid. Otherwise the session is ended here only,
 * and its refresh token lapses at the provider by its own lifetime.
 */
export function endedSessions(ending: readonly GrantHolder[], remaining: readonly GrantHolder[]): EndedSession[] {
  const mayShare = (e: GrantHolder) => remaining.some((r) => e.sid === undefined || r.sid === undefined || r.sid === e.sid);
  return ending.map((e) => endedSession(mayShare(e) ? undefined : e.refreshToken));
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
   * Beyond the user's bound it ends the oldest: those, and (stateless) any a
   * collapse into the cutoff ended, come back in `ended`.
   */
  create(data: SessionData, cookies: ReadonlyMap<string, string>): Promise<CreatedSession>;
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
  /**
   * Ends one of the user's sessions by its handle; undefined when the user has none by that handle.
   * Resolves to it, and to any other session ending it ended too (stateless: a collapse into the cutoff).
   */
  destroyHandle(current: SessionData, handle: string): Promise<EndedSession[] | undefined>;
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
