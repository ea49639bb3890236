import { GatehouseError, type ErrorCode } from '../errors.js';
import type { Logger } from '../log.js';

/** Which call to the identity provider failed. */
export type ProviderCall = 'discovery' | 'login' | 'refresh';

/**
 * How it failed. `client_rejected`: the provider refused the gateway's own
 * client (`invalid_client`, `unauthorized_client`, a 401 from the token
 * endpoint): a configuration problem, not an outage, and no retry helps.
 */
export type ProviderFailureKind =
  | 'client_rejected'
  | 'grant_refused'
  | 'oauth_error'
  | 'server_error'
  | 'timeout'
  | 'unreachable'
  | 'invalid_response';

/** What may be logged about a failed provider call: codes and a status, never a token, a secret or the provider's own text. */
export interface ProviderFailureFacts {
  readonly call: ProviderCall;
  readonly kind: ProviderFailureKind;
  /** The OAuth `error` code the provider answered, when it did. */
  readonly oauthError?: string;
  /** The provider's HTTP status, when it answered. */
  readonly httpStatus?: number;
  /** A library or socket error code (`ECONNREFUSED`, `OAUTH_JWT_CLAIM_COMPARISON_FAILED`), when there is one. */
  readonly reason?: string;
}

/** A session error caused by a provider call, with what an operator needs to know about it. */
export class ProviderError extends GatehouseError {
  constructor(
    code: ErrorCode,
    message: string,
    readonly facts: ProviderFailureFacts,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
  }
}

/** True when the provider refused the gateway's client itself (see {@link ProviderFailureKind}). */
export function isClientRejected(err: unknown): boolean {
  return err instanceof ProviderError && err.facts.kind === 'client_rejected';
}

/**
 * True when a login's code exchange failed without the provider ruling on the
 * code: discovery failed (the code was never sent), or the token endpoint could
 * not be reached or answered 5xx. The code is then presumably unspent and the
 * callback may be retried. A timeout is not among them: the provider may have
 * redeemed the code after the gateway stopped waiting.
 */
export function leftCodeUnspent(err: unknown): boolean {
  if (!(err instanceof ProviderError) || err.code !== 'GH_PROVIDER_UNAVAILABLE') return false;
  const f = err.facts;
  return f.call === 'discovery' || (f.call === 'login' && (f.kind === 'unreachable' || f.kind === 'server_error'));
}

// OAuth error codes are short ASCII words (RFC 6749 §5.2 allows %x20-21 / %x23-5B / %x5D-7E); anything else is not logged.
const SAFE_CODE = /^[A-Za-z0-9_.:-]{1,64}$/;

/** `value` when it is a code safe to log, else undefined. */
export function safeCode(value: unknown): string | undefined {
  return typeof value === 'string' && SAFE_CODE.test(value) ? value : undefined;
}

const WARN_INTERVAL_MS = 5000;

/**
 * Logs failed provider calls at `warn`: which call, how it failed, the OAuth
 * error code and HTTP status. Requests that shared one failed refresh share
 * its error and log it once; beyond that, one line per call and kind every
 * five seconds, with the number of failures not logged in between, so an
 * outage does not turn into a log flood.
 */
export class ProviderFailureLog {
  private readonly logged = new WeakSet<ProviderError>();
  private readonly last = new Map<string, { atMs: number; suppressed: number }>();

  constructor(
    private readonly logger: Logger,
    private readonly nowMs: () => number = Date.now,
  ) {}

  /** Logs `err` when it is a provider failure not logged yet; anything else is ignored. */
  report(err: unknown, requestId?: string): void {
    if (!(err instanceof ProviderError) || this.logged.has(err)) return;
    this.logged.add(err);
    const f = err.facts;
    const key = `${f.call}:${f.kind}:${f.oauthError ?? ''}:${f.httpStatus ?? ''}`;
    const now = this.nowMs();
    const seen = this.last.get(key);
    if (seen !== undefined && now - seen.atMs < WARN_INTERVAL_MS) {
      seen.suppressed++;
      return;
    }
    // Bounded by the few kinds, calls and codes a provider answers; a flood of distinct codes is cut off.
    if (this.last.size >= 100) this.last.clear();
    this.last.set(key, { atMs: now, suppressed: 0 });
    this.logger.warn(
      {
        call: f.call,
        outcome: f.kind,
        ...(f.oauthError !== undefined ? { oauthError: f.oauthError } : {}),
        ...(f.httpStatus !== undefined ? { httpStatus: f.httpStatus } : {}),
        ...(f.reason !== undefined ? { reason: f.reason } : {}),
        ...(seen !== undefined && seen.suppressed > 0 ? { notLoggedSince: seen.suppressed } : {}),
        answered: err.code,
        ...(requestId !== undefined ? { requestId } : {}),
      },
      f.kind === 'client_rejected'
        ? `the identity provider rejected the gateway's client during ${f.call}: check sessions.provider.clientId, clientSecret and the client's grant types at the provider`
        : `identity provider ${f.call} failed`,
    );
  }
}

const logs = new WeakMap<Logger, ProviderFailureLog>();

/**
 * The failure log writing to `logger`, one per logger: the session routes and
 * the `/auth/*` endpoints share its rate limit, and a failure both see is one line.
 */
export function providerFailureLog(logger: Logger): ProviderFailureLog {
  let log = logs.get(logger);
  if (log === undefined) logs.set(logger, (log = new ProviderFailureLog(logger)));
  return log;
}
