import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import * as oidc from 'openid-client';
import { RedisSessionStore } from '../../src/sessions/redis/redis-store.js';
import { CookieJar, discoverClient, loginWithForm } from '../helpers/auth-service.js';
import { deletePrefix, randomPrefix, REDIS_URL } from '../helpers/sessions.js';
import { openStatelessSession, rawRequest, readStatefulSession, startSessionStack, type Echo } from '../helpers/session-stack.js';

for (const mode of ['stateful', 'stateless'] as const) {
  test(`${mode}: login, API call with a bearer upstream, session list, logout, old cookie dead`, async (t) => {
    const stack = await startSessionStack({ mode });
    t.after(() => stack.close());

    // A page navigation without a session is sent to login; an API call gets 401.
    const nav = await rawRequest(`${stack.url}/app/home?x=1`, { headers: { 'sec-fetch-mode': 'navigate', accept: 'text/html' } });
    assert.equal(nav.status, 302);
    assert.equal(nav.headers.location, `/auth/login?return_to=${encodeURIComponent('/app/home?x=1')}`);
    const api = await fetch(`${stack.url}/api/orders`);
    assert.equal(api.status, 401);
    assert.equal(((await api.json()) as { code: string }).code, 'GH_SESSION_MISSING');

    const { jar, location } = await stack.login('/app/home');
    assert.equal(location, '/app/home');
    const cookieHeader = `${jar.header()}; theme=dark`;

    const call = await fetch(`${stack.url}/api/orders`, { headers: { cookie: cookieHeader } });
    assert.equal(call.status, 200);
    const echo = (await call.json()) as Echo;
    assert.match(echo.authorization ?? '', /^Bearer eyJ/);
    assert.equal(echo.cookie, 'theme=dark', 'gateway cookies are never forwarded');

    const list = await fetch(`${stack.url}/auth/sessions`, { headers: { cookie: cookieHeader } });
    assert.equal(list.status, 200);
    const sessions = ((await list.json()) as { sessions: { current: boolean; userAgent: string }[] }).sessions;
    assert.equal(sessions.length, 1);
    assert.equal(sessions[0]?.current, true);
    assert.equal(sessions[0]?.userAgent, 'session-e2e');

    const refresh = await fetch(`${stack.url}/auth/refresh`, { method: 'POST', headers: { cookie: cookieHeader, origin: stack.url } });
    assert.equal(refresh.status, 200);
    const tokens = (await refresh.json()) as { access_token: string; token_type: string; expires_in: number };
    assert.equal(tokens.token_type, 'Bearer');
    assert.ok(tokens.expires_in > 0);
    assert.equal(`Bearer ${tokens.access_token}`, echo.authorization);
    assert.equal(refresh.headers.get('cache-control'), 'no-store');

    const logout = await fetch(`${stack.url}/auth/logout`, { method: 'POST', headers: { cookie: cookieHeader, origin: stack.url } });
    assert.equal(logout.status, 200);
    const out = (await logout.json()) as { ended: boolean; revoked: boolean; end_session_url?: string };
    assert.equal(out.ended, true);
    assert.equal(out.revoked, true);
    assert.match(out.end_session_url ?? '', new RegExp(`^${stack.auth.issuer}/`));
    assert.ok(logout.headers.getSetCookie().every((c) => /Max-Age=0/.test(c)));

    const after = await fetch(`${stack.url}/api/orders`, { headers: { cookie: cookieHeader } });
    assert.equal(after.status, 401);
    assert.equal(((await after.json()) as { code: string }).code, 'GH_SESSION_EXPIRED');
    assert.ok(after.headers.getSetCookie().some((c) => /Max-Age=0/.test(c)), 'the dead cookie is cleared');
  });
}

test('a route accepting [jwt, session]: an SPA token from /auth/refresh works as a bearer, the cookie works alone, neither → 401', async (t) => {
  const stack = await startSessionStack({ mode: 'stateful' });
  t.after(() => stack.close());
  const { jar } = await stack.login();
  const viaCookie = await rawRequest(`${stack.url}/both/x`, { headers: { cookie: jar.header() } });
  assert.equal(viaCookie.status, 200);
  const token = (await rawRequest(`${stack.url}/auth/refresh`, { method: 'POST', headers: { cookie: jar.header(), origin: stack.url } })).json<{ access_token: string }>().access_token;
  const viaBearer = await rawRequest(`${stack.url}/both/x`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(viaBearer.status, 200, viaBearer.body);
  assert.equal(viaBearer.json<Echo>().authorization, `Bearer ${token}`);
  const none = await rawRequest(`${stack.url}/both/x`);
  assert.equal(none.status, 401);
  const forged = await rawRequest(`${stack.url}/both/x`, { headers: { authorization: `Bearer ${token.slice(0, -4)}AAAA`, cookie: jar.header() } });
  assert.equal(forged.status, 401, 'a bad bearer is not rescued by the cookie');
});

const prefix = randomPrefix('e2e-login');
after(() => deletePrefix(REDIS_URL, prefix));

for (const mode of ['stateful', 'stateless'] as const) {
  test(`${mode}: after logout the session's refresh token is dead at the provider (a refresh grant with it → invalid_grant)`, async (t) => {
    const stack = await startSessionStack({ mode, store: { kind: 'redis', url: REDIS_URL, prefix } });
    t.after(() => stack.close());
    const store = RedisSessionStore.open(REDIS_URL, { prefix });
    t.after(() => store.close());
    const { jar } = await stack.login();
    const cookie = jar.header();
    const session = mode === 'stateless' ? await openStatelessSession(stack.keys, cookie) : await readStatefulSession(stack.keys, store, cookie);
    const refreshToken = session?.tokens.refreshToken;
    assert.ok(refreshToken, 'the session holds a refresh token');
    const logout = await rawRequest(`${stack.url}/auth/logout`, { method: 'POST', headers: { cookie, origin: stack.url } });
    assert.equal(logout.status, 200);
    assert.equal(logout.json().revoked, true);
    const client = await discoverClient(stack.auth, { clientId: stack.clientId, clientSecret: stack.clientSecret });
    await assert.rejects(oidc.refreshTokenGrant(client, refreshToken), (err: unknown) => err instanceof oidc.ResponseBodyError && err.error === 'invalid_grant');
    assert.equal(stack.refusedRefreshGrants(), 1);
  });
}

test('a token response without `scope` (RFC 6749 §5.1: the scope requested) grants the requested scopes to the session', async (t) => {
  const stack = await startSessionStack({ mode: 'stateful' });
  t.after(() => stack.close());
  // The real provider always names the scope; the relay passes its answer on as another provider may send it, without.
  stack.relay.when('authorization_code', { do: 'rewrite', rewrite: ({ scope: _omitted, ...answer }) => answer });
  const { jar } = await stack.login();
  const [answer] = stack.relay.answers('authorization_code');
  assert.ok(answer?.access_token && !('scope' in answer), 'the gateway got a token response without scope');
  // `/both` asks for the scope api:read, which the gateway requested at login.
  const r = await rawRequest(`${stack.url}/both`, { headers: { cookie: jar.header() } });
  assert.equal(r.status, 200, r.body);
});

test('a login started under another host name is sent on to publicUrl (same path and query, never anywhere else) and completes there; behind a Host-rewriting proxy it goes ahead instead of looping', async (t) => {
  const stack = await startSessionStack({ mode: 'stateless' });
  t.after(() => stack.close());
  const port = new URL(stack.url).port;
  // publicUrl is 127.0.0.1:<port>; a page reached as localhost:<port> sends its users to a relative /auth/login.
  const elsewhere = await rawRequest(`${stack.url}/auth/login?return_to=%2Fapp%2Fhome`, { headers: { host: `localhost:${port}` } });
  assert.equal(elsewhere.status, 302);
  assert.equal(elsewhere.headers.location, `${stack.url}/auth/login?return_to=%2Fapp%2Fhome&host_redirected=1`);
  assert.deepEqual(elsewhere.setCookies, [], 'no transaction cookie on a host the callback never comes to');

  const jar = new CookieJar();
  const start = await fetch(elsewhere.headers.location, { redirect: 'manual' });
  assert.equal(start.status, 302);
  assert.ok(start.headers.get('location')?.startsWith(`${stack.auth.issuer}/`));
  jar.store(start);
  const callback = await loginWithForm(start.headers.get('location') as string, { username: stack.auth.user.username, password: stack.auth.user.password, redirectUri: `${stack.url}/auth/callback` });
  const done = await fetch(callback, { redirect: 'manual', headers: { cookie: jar.header() } });
  assert.equal(done.status, 302, await done.text());
  assert.equal(done.headers.get('location'), '/app/home');
  jar.store(done);
  assert.equal((await rawRequest(`${stack.url}/api/x`, { headers: { cookie: jar.header() } })).status, 200, 'signed in on publicUrl');

  for (const host of ['evil.example', `evil.example:${port}`, 'LOCALHOST']) {
    const r = await rawRequest(`${stack.url}/auth/login?return_to=/app`, { headers: { host } });
    assert.equal(new URL(r.headers.location as string).origin, stack.url, host);
  }
  // publicUrl's host in another case is publicUrl's host.
  const upper = await rawRequest(`${stack.url}/auth/login`, { headers: { host: `127.0.0.1:${port}`.toUpperCase() } });
  assert.ok(String(upper.headers.location).startsWith(`${stack.auth.issuer}/`));
  // X-Forwarded-Host counts only from a proxy in trustedProxies (none here).
  const forged = await rawRequest(`${stack.url}/auth/login`, { headers: { 'x-forwarded-host': 'evil.example' } });
  assert.ok(String(forged.headers.location).startsWith(`${stack.auth.issuer}/`));

  // A proxy that rewrites Host: the redirected login arrives under the rewritten name again.
  const rewritten = await rawRequest(elsewhere.headers.location, { headers: { host: `gateway.internal:${port}` } });
  assert.equal(rewritten.status, 302);
  assert.ok(String(rewritten.headers.location).startsWith(`${stack.auth.issuer}/`), 'the login goes ahead');
  assert.equal(rewritten.setCookies.length, 1, 'with its transaction cookie');
  assert.ok(stack.logs().some((l) => String(l.msg).includes('rewrites Host')));
});

test('the token endpoint unreachable or answering 5xx at the callback → 503, and the transaction is kept: the same callback URL, retried once the provider is back, logs in', async (t) => {
  const stack = await startSessionStack({ mode: 'stateful' });
  t.after(() => stack.close());
  for (const kind of ['unreachable', '5xx'] as const) {
    const start = await rawRequest(`${stack.url}/auth/login?return_to=/app/${kind}`);
    const tx = start.setCookies.map((c) => c.split(';')[0]).join('; ');
    const callback = await loginWithForm(String(start.headers.location), { username: stack.auth.user.username, password: stack.auth.user.password, redirectUri: `${stack.url}/auth/callback` });
    // The provider's address refuses connections; or a proxy in front of it answers an HTML 502.
    const proxyError = kind === '5xx' ? stack.relay.when('authorization_code', { do: 'answer', status: 502, contentType: 'text/html', body: '<html>bad gateway</html>' }) : undefined;
    if (kind === 'unreachable') await stack.relay.refuse();
    const failed = await rawRequest(callback.href, { headers: { cookie: tx } });
    assert.equal(failed.status, 503, failed.body);
    assert.equal(failed.json().code, 'GH_PROVIDER_UNAVAILABLE');
    assert.deepEqual(failed.setCookies, [], `${kind}: the transaction cookie is not cleared`);
    const logged = stack.logs().findLast((l) => l.call === 'login');
    assert.deepEqual(
      [logged?.outcome, logged?.reason ?? logged?.httpStatus],
      kind === 'unreachable' ? ['unreachable', 'ECONNREFUSED'] : ['server_error', 502],
      `${kind}: the gateway met the failure on its socket`,
    );
    if (kind === 'unreachable') await stack.relay.admit();
    proxyError?.release();
    const retried = await rawRequest(callback.href, { headers: { cookie: tx } });
    assert.equal(retried.status, 302, `${kind}: ${retried.body}`);
    assert.equal(retried.headers.location, `/app/${kind}`);
    assert.ok(retried.setCookies.some((c) => c.startsWith(`${tx.slice(0, tx.indexOf('='))}=;`)), 'now the transaction is spent');
    assert.ok(retried.setCookies.some((c) => c.startsWith('__Host-gh_sid=')), 'a session was issued');
  }
});
