import { randomBytes } from 'node:crypto';
import { GatehouseError } from '../errors.js';
import type { SessionTokens } from './refresh.js';

/** What the gateway keeps about a logged-in browser. Times are epoch milliseconds. */
export interface SessionData {
  /** Public handle for listing and ending sessions; not a credential. */
  readonly handle: string;
  readonly issuer: string;
  readonly subject: string;
  /** Selected ID token claims (name, email, …) for identity propagation. */
  readonly claims: Readonly<Record<string, unknown>>;
  readonly tokens: SessionTokens;
  readonly createdAt: number;
  readonly lastSeenAt: number;
  readonly userAgent?: string;
}

/**
 * The provider session the login came from: the ID token's `sid` claim (OIDC
 * Back-Channel Logout §2.4), when it carried one. Logins with the same sid may
 * share one grant at the provider; see `endedSessions`.
 */
export function providerSessionOf(data: Pick<SessionData, 'claims'>): string | undefined {
  const sid = data.claims.sid;
  return typeof sid === 'string' && sid !== '' ? sid : undefined;
}

/** How a session is shown by `GET /auth/sessions`. */
export interface SessionSummary {
  readonly id: string;
  readonly createdAt: string;
  readonly lastSeenAt: string;
  readonly userAgent: string | undefined;
  readonly current: boolean;
}

export interface SessionTimeouts {
  /** A session unused this long ends. */
  readonly idleSeconds: number;
  /** No session outlives its login by more than this. */
  readonly absoluteSeconds: number;
}

/** A fresh public handle (128 random bits). */
export function newHandle(): string {
  return randomBytes(16).toString('base64url');
}

/** Throws GH_SESSION_EXPIRED when the session passed its idle or absolute timeout at `nowMs`. */
/** The boolean form of {@link assertWithinTimeouts}. */
export function isWithinTimeouts(data: SessionData, t: SessionTimeouts, nowMs: number): boolean {
  return nowMs < data.createdAt + t.absoluteSeconds * 1000 && nowMs < data.lastSeenAt + t.idleSeconds * 1000;
}

export function assertWithinTimeouts(data: SessionData, t: SessionTimeouts, nowMs: number): void {
  if (nowMs >= data.createdAt + t.absoluteSeconds * 1000) throw new GatehouseError('GH_SESSION_EXPIRED', 'session reached its absolute lifetime');
  if (nowMs >= data.lastSeenAt + t.idleSeconds * 1000) throw new GatehouseError('GH_SESSION_EXPIRED', 'session idle for too long');
}

/** Seconds until the session ends unless used again: the earlier of idle and absolute expiry. */
export function remainingSeconds(data: SessionData, t: SessionTimeouts, nowMs: number): number {
  const end = Math.min(data.createdAt + t.absoluteSeconds * 1000, data.lastSeenAt + t.idleSeconds * 1000);
  return Math.max(0, Math.ceil((end - nowMs) / 1000));
}

/** Seconds until the absolute end (how long a logout marker must live). */
export function secondsToAbsoluteEnd(data: Pick<SessionData, 'createdAt'>, t: SessionTimeouts, nowMs: number): number {
  return Math.max(1, Math.ceil((data.createdAt + t.absoluteSeconds * 1000 - nowMs) / 1000));
}

export function summarize(data: Pick<SessionData, 'handle' | 'createdAt' | 'lastSeenAt' | 'userAgent'>, currentHandle: string | undefined): SessionSummary {
  return {
    id: data.handle,
    createdAt: new Date(data.createdAt).toISOString(),
    lastSeenAt: new Date(data.lastSeenAt).toISOString(),
    userAgent: data.userAgent,
    current: data.handle === currentHandle,
  };
}

/** Parses and shape-checks a decrypted session; anything else is GH_SESSION_INVALID. */
export function parseSessionData(json: string | Record<string, unknown>): SessionData {
  let v: unknown;
  try {
    v = typeof json === 'string' ? JSON.parse(json) : json;
  } catch {
    throw new GatehouseError('GH_SESSION_INVALID', 'session could not be read');
  }
  const d = v as Partial<SessionData> | null;
  const ok =
    d !== null &&
    typeof d === 'object' &&
    typeof d.handle === 'string' &&
    typeof d.issuer === 'string' &&
    typeof d.subject === 'string' &&
    typeof d.createdAt === 'number' &&
    typeof d.lastSeenAt === 'number' &&
    typeof d.claims === 'object' &&
    d.claims !== null &&
    typeof d.tokens === 'object' &&
    d.tokens !== null &&
    typeof d.tokens.accessToken === 'string' &&
    typeof d.tokens.accessTokenExpiresAt === 'number';
  if (!ok) throw new GatehouseError('GH_SESSION_INVALID', 'session could not be read');
  return d as SessionData;
}
