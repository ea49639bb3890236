import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as oidc from 'openid-client';
import { CookieJar, csrfFromPage, discoverClient, loginWithForm, openLoginPage as openServiceLoginPage, startTestAuthService, submitForm, TEST_REDIRECT_URI, type TestAuthService } from '../../../test/helpers/auth-service.js';
import { LOGIN_FAILED_MESSAGE } from './routes.js';

let auth: TestAuthService;
before(async () => {
  auth = await startTestAuthService({ overrides: { login: { maxAttemptsPerUser: 3, maxAttemptsPerIp: 50, window: 300 } } });
});
after(() => auth.close());

/** Starts an authorization request and returns the login page, its form action and the jar holding the interaction cookie. */
const openLoginPage = (clientId = auth.clients.web.clientId, service = auth) => openServiceLoginPage(service.issuer, clientId);

test('the login page is plain accessible HTML with a CSRF field and no external assets', async () => {
  const { html, status, headers } = await openLoginPage();
  assert.equal(status, 200);
  assert.match(headers.get('content-security-policy') ?? '', /default-src 'none'/);
  assert.equal(headers.get('x-frame-options'), 'DENY');
  assert.match(html, /<html lang="en">/);
  assert.match(html, /<label for="username">/);
  assert.match(html, /<label for="password">/);
  assert.match(html, /autocomplete="current-password"/);
  assert.ok(csrfFromPage(html));
  assert.doesNotMatch(html, /<script|https?:\/\/(?!127\.0\.0\.1)/);
});

test('wrong password and unknown user: same status, same message', async () => {
  const a = await openLoginPage();
  const wrong = await submitForm(a.action, a.jar, { csrf: csrfFromPage(a.html) as string, username: auth.user.username, password: 'wrong-password' });
  const b = await openLoginPage();
  const unknown = await submitForm(b.action, b.jar, { csrf: csrfFromPage(b.html) as string, username: 'mallory-nobody', password: 'wrong-password' });
  assert.equal(wrong.status, 401);
  assert.equal(unknown.status, 401);
  assert.ok(wrong.html.includes(LOGIN_FAILED_MESSAGE));
  assert.ok(unknown.html.includes(LOGIN_FAILED_MESSAGE));
  const strip = (h: string) => h.replace(/value="[^"]*"/g, '').replace(/\/interaction\/[^/"]+/g, '');
  assert.equal(strip(wrong.html), strip(unknown.html).replace('mallory-nobody', auth.user.username));
});

test('CSRF token missing or from another interaction: 403', async () => {
  const a = await openLoginPage();
  const b = await openLoginPage();
  const missing = await submitForm(a.action, a.jar, { username: auth.user.username, password: auth.user.password });
  assert.equal(missing.status, 403);
  const foreign = await submitForm(a.action, a.jar, { csrf: csrfFromPage(b.html) as string, username: auth.user.username, password: auth.user.password });
  assert.equal(foreign.status, 403);
  // The form still works with its own token.
  const ok = await submitForm(a.action, a.jar, { csrf: csrfFromPage(a.html) as string, username: auth.user.username, password: auth.user.password });
  assert.equal(ok.status, 303);
});

test('a login post without the interaction cookie: 400, no sign-in', async () => {
  const a = await openLoginPage();
  const res = await submitForm(a.action, new CookieJar(), { csrf: csrfFromPage(a.html) as string, username: auth.user.username, password: auth.user.password });
  assert.equal(res.status, 400);
  assert.equal(res.location, null);
});

test('rate limit per username: 429 with Retry-After; other users still sign in', async () => {
  const victim = 'rate-limited-user';
  for (let i = 0; i < 3; i++) {
    const p = await openLoginPage();
    const r = await submitForm(p.action, p.jar, { csrf: csrfFromPage(p.html) as string, username: victim, password: `guess-${i}` });
    assert.equal(r.status, 401);
  }
  const p = await openLoginPage();
  const limited = await submitForm(p.action, p.jar, { csrf: csrfFromPage(p.html) as string, username: victim, password: 'guess-x' });
  assert.equal(limited.status, 429);
  assert.ok(Number(limited.headers.get('retry-after')) > 0);
  // Other users are unaffected, and the service keeps serving.
  const cb = await loginWithForm(await authUrl(), { username: auth.user.username, password: auth.user.password, redirectUri: TEST_REDIRECT_URI });
  assert.ok(cb.searchParams.get('code'));
});

test('parallel guesses on one sign-in form: only the per-username limit gets a password check, the rest 429; other spellings of the name share the count', async () => {
  const victim = 'parallel-victim';
  const p = await openLoginPage();
  const csrf = csrfFromPage(p.html) as string;
  const statuses = await Promise.all(
    Array.from({ length: 20 }, (_, i) => submitForm(p.action, p.jar, { csrf, username: victim, password: `guess-${i}` }).then((r) => r.status)),
  );
  assert.equal(statuses.filter((s) => s === 401).length, 3, statuses.join(' '));
  assert.equal(statuses.filter((s) => s === 429).length, 17, statuses.join(' '));
  // The account store reads NFKC: a fullwidth first letter names the same account, and so the same count.
  const q = await openLoginPage();
  const respelled = await submitForm(q.action, q.jar, { csrf: csrfFromPage(q.html) as string, username: `\uff50${victim.slice(1)}`, password: 'guess-y' });
  assert.equal(respelled.status, 429);
});

test('password checks under way at once are bounded: a sign-in beyond login.maxConcurrentChecks gets 503 with Retry-After at once, uncounted; the slot frees after each check', async (t) => {
  const one = await startTestAuthService({ overrides: { login: { maxAttemptsPerUser: 3, maxAttemptsPerIp: 50, window: 300, maxConcurrentChecks: 1 } } });
  t.after(() => one.close());
  const pages = await Promise.all(Array.from({ length: 8 }, async () => {
    const r = await openLoginPage(undefined, one);
    return { ...r, csrf: csrfFromPage(r.html) as string };
  }));
  const answers = await Promise.all(pages.map((p, i) => submitForm(p.action, p.jar, { csrf: p.csrf, username: `busy-${i}`, password: 'wrong' })));
  const statuses = answers.map((r) => r.status);
  assert.ok(statuses.includes(503), statuses.join(' '));
  assert.ok(statuses.every((s) => s === 401 || s === 503), statuses.join(' '));
  for (const r of answers.filter((r) => r.status === 503)) assert.equal(r.headers.get('retry-after'), '1');
  // Slots are given back: one at a time, every sign-in gets its password check (and is counted).
  for (let i = 0; i < 3; i++) {
    const p = await openLoginPage(undefined, one);
    const r = await submitForm(p.action, p.jar, { csrf: csrfFromPage(p.html) as string, username: 'sequential', password: 'wrong' });
    assert.equal(r.status, 401);
  }
  const p = await openLoginPage(undefined, one);
  assert.equal((await submitForm(p.action, p.jar, { csrf: csrfFromPage(p.html) as string, username: 'sequential', password: 'wrong' })).status, 429, 'the three were counted');
});

test('behind a trusted proxy the per-address limit keys on X-Forwarded-For; from other peers the header is ignored', async (t) => {
  const login = { maxAttemptsPerUser: 100, maxAttemptsPerIp: 2, window: 300 };
  const proxied = await startTestAuthService({ overrides: { trustedProxies: ['127.0.0.1', '::1'], login } });
  const direct = await startTestAuthService({ overrides: { login } });
  t.after(() => Promise.all([proxied.close(), direct.close()]));
  const attempt = async (forwardedFor: string, username: string, service = proxied) => {
    const p = await openLoginPage(service.clients.web.clientId, service);
    return (await submitForm(p.action, p.jar, { csrf: csrfFromPage(p.html) as string, username, password: 'wrong' }, { 'x-forwarded-for': forwardedFor })).status;
  };
  assert.equal(await attempt('198.51.100.7', 'u1'), 401);
  assert.equal(await attempt('198.51.100.7', 'u2'), 401);
  assert.equal(await attempt('198.51.100.7', 'u3'), 429, 'the third failure from one client address');
  assert.equal(await attempt('203.0.113.5', 'u4'), 401, 'another client behind the same proxy is not limited');
  assert.equal(await attempt('203.0.113.5, 198.51.100.7', 'u5'), 429, 'the right-most untrusted hop counts, not what the client prepends');
  // A service that trusts no proxy: forged headers do not spread one client's attempts over addresses.
  assert.equal(await attempt('192.0.2.1', 'v1', direct), 401);
  assert.equal(await attempt('192.0.2.2', 'v2', direct), 401);
  assert.equal(await attempt('192.0.2.3', 'v3', direct), 429);
});

async function authUrl(clientId = auth.clients.web.clientId): Promise<string> {
  const verifier = oidc.randomPKCECodeVerifier();
  return `${auth.issuer}/auth?${new URLSearchParams({
    client_id: clientId,
    response_type: 'code',
    redirect_uri: TEST_REDIRECT_URI,
    scope: 'openid api:read',
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
  })}`;
}

test('consent page for a third-party client; deny gives access_denied, allow gives a code', async () => {
  const denied = await loginWithForm(await authUrl(auth.clients.thirdParty.clientId), {
    username: auth.user.username,
    password: auth.user.password,
    redirectUri: TEST_REDIRECT_URI,
    consent: false,
  }).catch((err: Error) => err);
  // With consent: false the helper stops on the consent page.
  assert.ok(denied instanceof Error);
  assert.match(denied.message, /Allow access/);

  const jar = new CookieJar();
  const allowed = await loginWithForm(await authUrl(auth.clients.thirdParty.clientId), { username: auth.user.username, password: auth.user.password, redirectUri: TEST_REDIRECT_URI, jar });
  assert.ok(allowed.searchParams.get('code'));
  // The grant is remembered for this browser session: no consent page the second time.
  const again = await loginWithForm(await authUrl(auth.clients.thirdParty.clientId), { username: 'x', password: 'x', redirectUri: TEST_REDIRECT_URI, jar, consent: false });
  assert.ok(again.searchParams.get('code'));
});

test('deny on the consent page: access_denied back to the client', async () => {
  const jar = new CookieJar();
  let res = await fetch(await authUrl(auth.clients.thirdParty.clientId), { redirect: 'manual' });
  jar.store(res);
  let url = new URL(res.headers.get('location') as string, auth.issuer).href;
  // Sign in, then follow to the consent page.
  let page = await (await fetch(url, { headers: { cookie: jar.header() } })).text();
  res = await fetch(`${url}/login`, {
    method: 'POST',
    redirect: 'manual',
    headers: { cookie: jar.header(), 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ csrf: csrfFromPage(page) as string, username: auth.user.username, password: auth.user.password }),
  });
  jar.store(res);
  for (;;) {
    res = await fetch(new URL(res.headers.get('location') as string, auth.issuer), { redirect: 'manual', headers: { cookie: jar.header() } });
    jar.store(res);
    if (res.status === 200) break;
  }
  url = res.url;
  page = await res.text();
  assert.match(page, /Allow access/);
  res = await fetch(`${url}/abort`, {
    method: 'POST',
    redirect: 'manual',
    headers: { cookie: jar.header(), 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ csrf: csrfFromPage(page) as string }),
  });
  jar.store(res);
  res = await fetch(new URL(res.headers.get('location') as string, auth.issuer), { redirect: 'manual', headers: { cookie: jar.header() } });
  const callback = new URL(res.headers.get('location') as string);
  assert.equal(callback.searchParams.get('error'), 'access_denied');
});

test('userinfo and ID token for a client without resources', async () => {
  const config = await discoverClient(auth, auth.clients.oidcOnly);
  const { obtainTokensWithLogin } = await import('../../../test/helpers/auth-service.js');
  const tokens = await obtainTokensWithLogin(auth, auth.clients.oidcOnly, { scope: 'openid profile' });
  const info = await oidc.fetchUserInfo(config, tokens.access_token, auth.user.id);
  assert.equal(info.sub, auth.user.id);
  assert.equal(info.preferred_username, auth.user.username);
});

test('RP-initiated logout: confirm page, redirect to the registered URI, the session grant revoked', async () => {
  const { TEST_POST_LOGOUT_URI, obtainTokensWithLogin } = await import('../../../test/helpers/auth-service.js');
  const jar = new CookieJar();
  // Without offline_access the grant does not outlive the sign-in session.
  const tokens = await obtainTokensWithLogin(auth, auth.clients.web, { scope: 'openid api:read', jar });
  // A refresh token is introspected by its own client (to others the service says inactive).
  const web = await discoverClient(auth, auth.clients.web);
  assert.equal((await oidc.tokenIntrospection(web, tokens.refresh_token as string)).active, true);
  const endUrl = `${auth.issuer}/session/end?${new URLSearchParams({ id_token_hint: tokens.id_token as string, post_logout_redirect_uri: TEST_POST_LOGOUT_URI, state: 'bye' })}`;
  const page = await fetch(endUrl, { headers: { cookie: jar.header() } });
  jar.store(page);
  const html = await page.text();
  assert.equal(page.status, 200);
  assert.match(html, /Sign out/);
  const action = /action="([^"]+)"/.exec(html)?.[1] as string;
  const xsrf = /name="xsrf" value="([^"]+)"/.exec(html)?.[1] as string;
  const confirm = await fetch(new URL(action, auth.issuer), {
    method: 'POST',
    redirect: 'manual',
    headers: { cookie: jar.header(), 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ xsrf, logout: 'yes' }),
  });
  await confirm.text();
  assert.equal(confirm.status, 303);
  const location = new URL(confirm.headers.get('location') as string);
  assert.equal(`${location.origin}${location.pathname}`, TEST_POST_LOGOUT_URI);
  assert.equal(location.searchParams.get('state'), 'bye');
  assert.equal((await oidc.tokenIntrospection(web, tokens.refresh_token as string)).active, false);

  const bad = await fetch(`${auth.issuer}/session/end?${new URLSearchParams({ id_token_hint: tokens.id_token as string, post_logout_redirect_uri: 'http://127.0.0.1:9/elsewhere' })}`);
  assert.equal(bad.status, 400);
  assert.match(await bad.text(), /invalid_request/);
});

test('a sign-in request that does not exist is 400 "Sign-in expired", not an outage', async () => {
  const res = await submitForm(`${auth.issuer}/interaction/no-such-interaction/login`, new CookieJar(), { csrf: 'x', username: auth.user.username, password: 'x' });
  assert.equal(res.status, 400);
  assert.match(res.html, /Sign-in expired/);
  assert.equal(res.headers.get('retry-after'), null);
});
