import type { IncomingMessage, ServerResponse } from 'node:http';
import type Provider from 'oidc-provider';
import { errors, type InteractionResults } from 'oidc-provider';
import type { Logger } from '../../log.js';
import type { AccountStore } from '../accounts/store.js';
import { verifyPassword } from '../accounts/password.js';
import type { AuthServiceConfig } from '../config-schema.js';
import { renderConsentPage } from './consent-page.js';
import { csrfTokenFor, isValidCsrfToken } from './csrf.js';
import { PAGE_HEADERS, renderPage } from './html.js';
import { renderLoginPage } from './login-page.js';
import type { LoginRateLimit } from './rate-limit.js';
import { clientAddress, type TrustedProxies } from '../../server/trusted-proxies.js';

export interface InteractionDeps {
  readonly cfg: AuthServiceConfig;
  readonly accounts: AccountStore;
  readonly limiter: LoginRateLimit;
  /** Proxies whose X-Forwarded-For names the client (the rate limit's per-address key). */
  readonly trusted: TrustedProxies;
  /** A hash of a random password: unknown users are checked against it so they cost the same time. */
  readonly dummyHash: string;
  /** Bounds the password checks waiting for scrypt at once (see {@link PasswordCheckSlots}). */
  readonly passwordChecks: PasswordCheckSlots;
  readonly logger?: Logger;
}

/**
 * Password checks under way at once. Each is an scrypt on libuv's small thread pool (about a
 * fifth of a second of a core): a flood of sign-ins from many addresses, each within its rate
 * limit, would otherwise queue without bound and hold every user's sign-in behind it. Beyond
 * `max`, a sign-in is turned away at once (503, not counted against the rate limit).
 */
export class PasswordCheckSlots {
  private used = 0;
  private turnedAway = 0;
  private reportedAt = -Infinity;
  constructor(
    readonly max: number,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Counts a sign-in turned away; every 10 s at most, the number since the last report (else
   * undefined): the flood this bound is for must not become one of log lines.
   */
  turnAway(): number | undefined {
    this.turnedAway++;
    const now = this.now();
    if (now - this.reportedAt < 10_000) return undefined;
    const count = this.turnedAway;
    this.turnedAway = 0;
    this.reportedAt = now;
    return count;
  }

  tryTake(): boolean {
    if (this.used >= this.max) return false;
    this.used++;
    return true;
  }

  release(): void {
    this.used--;
  }
}

/** The one message for every failed sign-in: it must not tell unknown users from wrong passwords. */
export const LOGIN_FAILED_MESSAGE = 'Invalid username or password.';

const PATH = /^\/interaction\/([A-Za-z0-9_-]{1,64})(?:\/(login|confirm|abort))?$/;

/**
 * Serves `/interaction/:uid` (the login or consent page) and its form posts.
 * Returns false when the path is not an interaction path.
 */
export async function handleInteraction(req: IncomingMessage, res: ServerResponse, provider: Provider, deps: InteractionDeps): Promise<boolean> {
  const path = (req.url ?? '/').split('?')[0] as string;
  const m = PATH.exec(path);
  if (!m) return false;
  const uid = m[1] as string;
  const action = m[2];
  const isGet = req.method === 'GET' || req.method === 'HEAD';
  if ((action === undefined && !isGet) || (action !== undefined && req.method !== 'POST')) {
    sendPage(res, 405, 'Method not allowed', '<p>This page does not accept that method.</p>', { allow: action ? 'POST' : 'GET' });
    return true;
  }

  let details: Awaited<ReturnType<Provider['interactionDetails']>>;
  try {
    details = await provider.interactionDetails(req, res);
  } catch (err) {
    if (!(err instanceof errors.OIDCProviderError)) {
      // Not a missing or spent interaction but a store that did not answer: telling the user the
      // sign-in expired would send them round again into the same outage.
      deps.logger?.error({ event: 'interaction_store_unavailable', err: { message: (err as Error).message } }, 'cannot read the sign-in request');
      sendPage(res, 503, 'Sign-in unavailable', '<p>Sign-in is unavailable right now. Try again in a moment.</p>', { 'retry-after': '5' });
      return true;
    }
    sendPage(res, 400, 'Sign-in expired', '<p>This sign-in request has expired or was already used. Return to the application and start again.</p>');
    return true;
  }
  if (details.uid !== uid) {
    sendPage(res, 400, 'Sign-in expired', '<p>This sign-in request does not match your browser session. Start again.</p>');
    return true;
  }
  const key = deps.cfg.cookieKeys[0] as string;
  const csrf = csrfTokenFor(uid, key);
  const clientId = String(details.params.client_id ?? '');
  const clientCfg = deps.cfg.clients.find((c) => c.clientId === clientId);

  if (action === undefined) {
    if (details.prompt.name === 'login') {
      sendHtml(res, 200, renderLoginPage({ action: `/interaction/${uid}/login`, csrfToken: csrf, clientName: clientId }));
      return true;
    }
    if (details.prompt.name === 'consent' && clientCfg?.firstParty) {
      await finish(provider, req, res, { consent: await grantRequested(provider, details) });
      return true;
    }
    const d = details.prompt.details as { missingOIDCScope?: string[]; missingResourceScopes?: Record<string, string[]> };
    sendHtml(
      res,
      200,
      renderConsentPage({
        confirmAction: `/interaction/${uid}/confirm`,
        abortAction: `/interaction/${uid}/abort`,
        csrfToken: csrf,
        clientName: clientId,
        scopes: [...new Set([...(d.missingOIDCScope ?? []), ...Object.values(d.missingResourceScopes ?? {}).flat()])],
        resources: Object.keys(d.missingResourceScopes ?? {}),
      }),
    );
    return true;
  }

  const form = await readForm(req, deps.cfg.maxBodyBytes);
  if (form === 'too-large') {
    sendPage(res, 413, 'Request too large', '<p>The form was too large.</p>');
    return true;
  }
  if (!isValidCsrfToken(form.get('csrf') ?? undefined, uid, key)) {
    sendPage(res, 403, 'Request rejected', '<p>The form could not be verified. Reload the sign-in page and try again.</p>');
    return true;
  }

  if (action === 'abort') {
    await finish(provider, req, res, { error: 'access_denied', error_description: 'the user denied the request' });
    return true;
  }
  if (action === 'confirm') {
    if (details.prompt.name !== 'consent') {
      sendPage(res, 400, 'Nothing to confirm', '<p>This request does not need consent. Start again.</p>');
      return true;
    }
    await finish(provider, req, res, { consent: await grantRequested(provider, details) });
    return true;
  }

  // action === 'login'
  if (details.prompt.name !== 'login') {
    sendPage(res, 400, 'Already signed in', '<p>This request does not need a sign-in. Start again.</p>');
    return true;
  }
  const username = (form.get('username') ?? '').slice(0, 256);
  const password = form.get('password') ?? '';
  const ip = clientAddress(deps.trusted, req.socket.remoteAddress, req.headers['x-forwarded-for']);
  // The form again, with the name kept and a message saying why.
  const formAgain = (status: number, error: string, headers?: Record<string, string>): true => {
    sendHtml(res, status, renderLoginPage({ action: `/interaction/${uid}/login`, csrfToken: csrf, clientName: clientId, username, error }), headers);
    return true;
  };
  if (!deps.passwordChecks.tryTake()) {
    const turnedAway = deps.passwordChecks.turnAway();
    if (turnedAway !== undefined) deps.logger?.warn({ event: 'login_busy', max: deps.passwordChecks.max, turnedAway }, 'sign-ins turned away: too many password checks under way');
    return formAgain(503, 'Sign-in is busy right now. Try again in a moment.', { 'retry-after': '1' });
  }
  let found: Awaited<ReturnType<AccountStore['findForLogin']>>;
  let ok: boolean;
  try {
    let retryAfter: number;
    try {
      retryAfter = await deps.limiter.admit(username, ip);
    } catch (err) {
      // The shared counter (Redis) is unreachable: refuse the attempt rather than check an uncounted
      // guess. Nothing is lost: with the store down, the sign-in could not be completed anyway.
      deps.logger?.error({ event: 'login_rate_limit_unavailable', err: { message: (err as Error).message } }, 'login rate limit unavailable');
      return formAgain(503, 'Sign-in is unavailable right now. Try again in a moment.', { 'retry-after': '5' });
    }
    if (retryAfter > 0) return formAgain(429, 'Too many attempts. Wait a few minutes and try again.', { 'retry-after': String(retryAfter) });
    found = await deps.accounts.findForLogin(username);
    // Unknown users still pay for one scrypt, so the timing matches a wrong password.
    ok = await verifyPassword(password, found?.passwordHash ?? deps.dummyHash);
  } finally {
    deps.passwordChecks.release();
  }
  if (!found || !ok) {
    deps.logger?.info({ event: 'login_failed', clientId }, 'sign-in failed');
    return formAgain(401, LOGIN_FAILED_MESSAGE);
  }
  // The password was right: a counter that cannot be cleared now only expires later, so sign in anyway.
  await Promise.resolve(deps.limiter.succeeded(username, ip)).catch((err: Error) =>
    deps.logger?.warn({ event: 'login_rate_limit_unavailable', err: { message: err.message } }, 'cannot clear the login rate limit'),
  );
  await finish(provider, req, res, { login: { accountId: found.account.id, amr: ['pwd'] } }, false);
  return true;
}

/** Grants what the client asked for; the scopes were already cut to its allow-list by the provider. */
async function grantRequested(provider: Provider, details: Awaited<ReturnType<Provider['interactionDetails']>>): Promise<{ grantId: string }> {
  const accountId = details.session?.accountId;
  const clientId = String(details.params.client_id);
  const grant = (details.grantId ? await provider.Grant.find(details.grantId) : undefined) ?? new provider.Grant({ accountId, clientId });
  const d = details.prompt.details as {
    missingOIDCScope?: string[];
    missingOIDCClaims?: string[];
    missingResourceScopes?: Record<string, string[]>;
  };
  if (d.missingOIDCScope) grant.addOIDCScope(d.missingOIDCScope.join(' '));
  if (d.missingOIDCClaims) grant.addOIDCClaims(d.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(d.missingResourceScopes ?? {})) grant.addResourceScope(indicator, scopes.join(' '));
  return { grantId: await grant.save() };
}

async function finish(provider: Provider, req: IncomingMessage, res: ServerResponse, result: InteractionResults, merge = true): Promise<void> {
  await provider.interactionFinished(req, res, result, { mergeWithLastSubmission: merge });
}

/** Reads an urlencoded form body, refusing more than `maxBytes`. */
async function readForm(req: IncomingMessage, maxBytes: number): Promise<URLSearchParams | 'too-large'> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > maxBytes) return 'too-large';
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) return 'too-large';
    chunks.push(chunk);
  }
  const type = String(req.headers['content-type'] ?? '');
  if (!type.startsWith('application/x-www-form-urlencoded')) return new URLSearchParams();
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

function sendHtml(res: ServerResponse, status: number, html: string, extra: Record<string, string> = {}): void {
  res.writeHead(status, { ...PAGE_HEADERS, ...extra });
  res.end(html);
}

function sendPage(res: ServerResponse, status: number, title: string, body: string, extra: Record<string, string> = {}): void {
  sendHtml(res, status, renderPage(title, body), extra);
}
