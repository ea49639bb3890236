import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { ConfigSchema } from '../../src/config/schema.js';
import { MemorySessionStore } from '../../src/sessions/memory/memory-store.js';
import type { SessionKey, StoredSession } from '../../src/sessions/store.js';
import { CookieJar, loginWithForm } from '../helpers/auth-service.js';
import { offsetClock, rawRequest, startSessionStack, type Echo } from '../helpers/session-stack.js';

const code = (r: { json(): Record<string, unknown> }) => r.json().code;

for (const mode of ['stateful', 'stateless'] as const) {
  test(`${mode}: tampered, truncated, partial or junk cookies → 401 GH_SESSION_INVALID with cookies cleared; the server still serves`, async (t) => {
    const stack = await startSessionStack({ mode });
    t.after(() => stack.close());
    const { jar } = await stack.login();
    const [name, value] = jar.header().split('; ').map((p) => [p.slice(0, p.indexOf('=')), p.slice(p.indexOf('=') + 1)]).find(([n]) => n?.startsWith('__Host-gh_s')) as [string, string];
    const flip = (s: string, i: number) => s.slice(0, i) + (s[i] === 'A' ? 'B' : 'A') + s.slice(i + 1);
    const bad =
      mode === 'stateful'
        ? [`${name}=${value.slice(0, 20)}`, `${name}=${value}x`, `${name}=${'%'.repeat(43)}`]
        : [
            `${name}=${flip(value, 30)}`,
            `${name}=${flip(value, value.length - 3)}`,
            `${name}=${value.slice(0, -10)}`,
            `${name}=2~${value.slice(2)}`,
            `${name}=${value.slice(2)}`,
            '__Host-gh_s.1=orphan-chunk',
            `${name}=1~junk`,
          ];
    for (const cookie of bad) {
      const r = await rawRequest(`${stack.url}/api/orders`, { headers: { cookie } });
      assert.equal(r.status, 401, cookie.slice(0, 40));
      assert.equal(code(r), 'GH_SESSION_INVALID', cookie.slice(0, 40));
      assert.ok(r.setCookies.length > 0 && r.setCookies.every((c) => /Max-Age=0/.test(c)), 'cookies cleared');
      assert.ok(!r.body.includes(value.slice(5, 25)), 'the cookie value is not echoed');
    }
    if (mode === 'stateful') {
      const unknown = await rawRequest(`${stack.url}/api/orders`, { headers: { cookie: `${name}=${randomBytes(32).toString('base64url')}` } });
      assert.equal(unknown.status, 401);
      assert.equal(code(unknown), 'GH_SESSION_EXPIRED', 'well-formed but unknown id');
    }
    const ok = await rawRequest(`${stack.url}/api/orders`, { headers: { cookie: jar.header() } });
    assert.equal(ok.status, 200);
  });

  test(`${mode}: a session cookie planted before login is replaced and ended (no fixation)`, async (t) => {
    const stack = await startSessionStack({ mode });
    t.after(() => stack.close());
    const planted = (await stack.login()).jar; // the attacker's own valid session
    const plantedHeader = planted.header();
    const victim = new CookieJar();
    for (const c of plantedHeader.split('; ')) victim.store(new Response(null, { headers: { 'set-cookie': `${c}; Path=/` } }));
    const { jar } = await stack.login('/app/home', victim);
    assert.notEqual(jar.header(), plantedHeader, 'a fresh session cookie was issued');
    const mine = await rawRequest(`${stack.url}/api/x`, { headers: { cookie: jar.header() } });
    assert.equal(mine.status, 200);
    const theirs = await rawRequest(`${stack.url}/api/x`, { headers: { cookie: plantedHeader } });
    assert.equal(theirs.status, 401, 'the planted session no longer works');
    if (mode === 'stateful') {
      // An id the attacker made up is never adopted either.
      const madeUp = randomBytes(32).toString('base64url');
      const v2 = new CookieJar();
      v2.store(new Response(null, { headers: { 'set-cookie': `__Host-gh_sid=${madeUp}; Path=/` } }));
      const { jar: j2 } = await stack.login('/app/home', v2);
      assert.ok(!j2.header().includes(madeUp));
    }
  });
}

test('CSRF: cookie-authenticated unsafe requests need our Origin or Sec-Fetch-Site: same-origin', async (t) => {
  const stack = await startSessionStack({ mode: 'stateful' });
  t.after(() => stack.close());
  const { jar } = await stack.login();
  const cookie = jar.header();
  const post = (headers: Record<string, string>, path = '/api/orders', method = 'POST') => rawRequest(`${stack.url}${path}`, { method, headers: { cookie, ...headers } });
  const attempts: Record<string, string>[] = [
    { origin: 'http://evil.example' },
    { origin: 'null' },
    { 'sec-fetch-site': 'cross-site' },
    { 'sec-fetch-site': 'same-site', origin: 'http://sub.127.0.0.1' },
    { 'sec-fetch-site': 'cross-site', origin: 'http://evil.example' },
    {},
  ];
  for (const headers of attempts) {
    const r = await post(headers);
    assert.equal(r.status, 403, JSON.stringify(headers));
    assert.equal(code(r), 'GH_CSRF_REJECTED');
  }
  for (const [path, method] of [['/auth/logout', 'POST'], ['/auth/refresh', 'POST'], ['/auth/sessions', 'DELETE']] as const) {
    const r = await post({ origin: 'http://evil.example' }, path, method);
    assert.equal(r.status, 403, path);
    assert.equal(code(r), 'GH_CSRF_REJECTED');
  }
  const same = await post({ origin: stack.url });
  assert.equal(same.status, 200);
  assert.equal(same.json<Echo>().method, 'POST');
  assert.equal((await post({ 'sec-fetch-site': 'same-origin' })).status, 200);
  assert.equal((await rawRequest(`${stack.url}/api/orders`, { headers: { cookie, origin: 'http://evil.example' } })).status, 200, 'safe methods pass');
  // A bearer-token request is not cookie-authenticated: no CSRF check applies to it.
  assert.equal((await rawRequest(`${stack.url}/api/orders`, { method: 'POST', headers: { authorization: 'Bearer abc.def.ghi' } })).status, 401);
  assert.equal((await rawRequest(`${stack.url}/api/orders`, { headers: { cookie } })).status, 200, 'the session survived the attempts');
});

test('CSRF double-submit: with csrf.doubleSubmit the x-csrf-token header must match the __Host-gh_csrf cookie', async (t) => {
  const stack = await startSessionStack({ mode: 'stateless', sessions: { csrf: { doubleSubmit: true } } });
  t.after(() => stack.close());
  const { jar } = await stack.login();
  const token = /__Host-gh_csrf=([^;]+)/.exec(jar.header())?.[1];
  assert.ok(token, 'the login set a readable CSRF cookie');
  const post = (headers: Record<string, string>) => rawRequest(`${stack.url}/api/orders`, { method: 'POST', headers: { cookie: jar.header(), origin: stack.url, ...headers } });
  assert.equal((await post({})).status, 403);
  assert.equal((await post({ 'x-csrf-token': `${token}x` })).status, 403);
  assert.equal((await post({ 'x-csrf-token': token })).status, 200);
});

test('open-redirect attempts on /auth/login are 400; same-origin paths and allow-listed origins pass', async (t) => {
  const stack = await startSessionStack({ mode: 'stateful', sessions: { returnToOrigins: ['https://spa.example.com'] } });
  t.after(() => stack.close());
  for (const target of [
    '//evil.example/x',
    '/.//evil.example/x',
    '/..//evil.example',
    '/%2e%2e//evil.example',
    'https://evil.example/',
    '/\\evil.example',
    '\\\\evil.example',
    'javascript:alert(1)',
    'data:text/html,hi',
    'http://127.0.0.1:1/other-port',
    'https://evil.example@spa.example.com.evil.example/',
    '/\t/evil.example',
    'https://spa.example.com.evil.example/',
    'http://spa.example.com/',
  ]) {
    const r = await rawRequest(`${stack.url}/auth/login?return_to=${encodeURIComponent(target)}`);
    assert.equal(r.status, 400, target);
    assert.equal(code(r), 'GH_BAD_REQUEST', target);
    assert.equal(r.headers.location, undefined);
  }
  for (const target of ['/app/x?y=1#z', 'https://spa.example.com/cb']) {
    const r = await rawRequest(`${stack.url}/auth/login?return_to=${encodeURIComponent(target)}`);
    assert.equal(r.status, 302, target);
    assert.match(String(r.headers.location), new RegExp(`^${stack.auth.issuer}/`));
  }
  const { location } = await stack.login('/app/x?y=1#z');
  assert.equal(location, '/app/x?y=1#z');
});

test('two logins started in one browser (two tabs) both complete: each callback takes its own transaction', async (t) => {
  const stack = await startSessionStack({ mode: 'stateful' });
  t.after(() => stack.close());
  const startA = await rawRequest(`${stack.url}/auth/login?return_to=/app/a`);
  const startB = await rawRequest(`${stack.url}/auth/login?return_to=/app/b`, { headers: { cookie: startA.setCookies.map((c) => c.split(';')[0]).join('; ') } });
  const browser = [...startA.setCookies, ...startB.setCookies].map((c) => c.split(';')[0]).join('; ');
  assert.equal(new Set(browser.split('; ').map((p) => p.slice(0, p.indexOf('=')))).size, 2, 'the second login did not replace the first');
  const form = { username: stack.auth.user.username, password: stack.auth.user.password, redirectUri: `${stack.url}/auth/callback` };
  const callbackB = await loginWithForm(String(startB.headers.location), form);
  const callbackA = await loginWithForm(String(startA.headers.location), form);
  const doneB = await rawRequest(callbackB.href, { headers: { cookie: browser } });
  const doneA = await rawRequest(callbackA.href, { headers: { cookie: browser } });
  assert.equal(doneB.status, 302, doneB.body);
  assert.equal(doneB.headers.location, '/app/b');
  assert.equal(doneA.status, 302, doneA.body);
  assert.equal(doneA.headers.location, '/app/a');
  assert.ok(doneA.setCookies.some((c) => c.startsWith('__Host-gh_sid=')), 'a session was issued');
});

test('callback without a login in progress, with a foreign state, replayed, or with a provider error → 400 GH_LOGIN_FAILED', async (t) => {
  const stack = await startSessionStack({ mode: 'stateful' });
  t.after(() => stack.close());
  const noTx = await rawRequest(`${stack.url}/auth/callback?code=abc&state=xyz`);
  assert.equal(noTx.status, 400);
  assert.equal(code(noTx), 'GH_LOGIN_FAILED');

  // Two logins in flight: the callback of the first with the transaction cookie of the second.
  const startA = await rawRequest(`${stack.url}/auth/login`);
  const startB = await rawRequest(`${stack.url}/auth/login`);
  const txB = startB.setCookies.map((c) => c.split(';')[0]).join('; ');
  const callbackA = await loginWithForm(String(startA.headers.location), { username: stack.auth.user.username, password: stack.auth.user.password, redirectUri: `${stack.url}/auth/callback` });
  const crossed = await rawRequest(callbackA.href, { headers: { cookie: txB } });
  assert.equal(crossed.status, 400);
  assert.equal(code(crossed), 'GH_LOGIN_FAILED');
  const nameB = txB.slice(0, txB.indexOf('='));
  assert.ok(!crossed.setCookies.some((c) => c.startsWith(`${nameB}=`)), "another login's transaction is left alone");

  const txA = startA.setCookies.map((c) => c.split(';')[0]).join('; ');
  const good = await rawRequest(callbackA.href, { headers: { cookie: txA } });
  assert.equal(good.status, 302, 'state is checked before the code is spent: the right browser still completes');
  const nameA = txA.slice(0, txA.indexOf('='));
  assert.ok(good.setCookies.some((c) => c.startsWith(`${nameA}=;`) && /Max-Age=0/.test(c)), 'the transaction is single-use');
  const replay = await rawRequest(callbackA.href, { headers: { cookie: txA } });
  assert.equal(replay.status, 400, 'a replayed callback (code already used) fails');
  assert.equal(code(replay), 'GH_LOGIN_FAILED');

  const denied = await rawRequest(`${stack.url}/auth/callback?error=access_denied&state=x`, { headers: { cookie: txA } });
  assert.equal(denied.status, 400);
  assert.equal(code(denied), 'GH_LOGIN_FAILED');

  const ok = await stack.login();
  assert.equal(ok.location, '/app/home', 'the gateway still logs people in');
});

test('/auth endpoints: unknown path 404, wrong method 405 with Allow; gateway cookies never reach any upstream', async (t) => {
  const stack = await startSessionStack({ mode: 'stateful' });
  t.after(() => stack.close());
  const nf = await rawRequest(`${stack.url}/auth/nope`);
  assert.equal(nf.status, 404);
  const m = await rawRequest(`${stack.url}/auth/logout`);
  assert.equal(m.status, 405);
  assert.equal(m.headers.allow, 'POST');
  const missing = await rawRequest(`${stack.url}/auth/sessions`);
  assert.equal(missing.status, 401);
  assert.equal(code(missing), 'GH_SESSION_MISSING');
  const { jar } = await stack.login();
  const pub = await rawRequest(`${stack.url}/public/x`, { headers: { cookie: `${jar.header()}; a=1` } });
  assert.equal(pub.status, 200);
  assert.equal(pub.json<Echo>().cookie, 'a=1', 'stripped on a public route too');
  assert.equal(pub.json<Echo>().authorization, undefined, 'a public route gets no token');
  const mixed = await rawRequest(`${stack.url}/mixed/x`, { headers: { cookie: jar.header() } });
  assert.match(mixed.json<Echo>().authorization ?? '', /^Bearer /, 'a session is used when present on an optional-auth route');
  const anon = await rawRequest(`${stack.url}/mixed/x`);
  assert.equal(anon.status, 200, 'and anonymous callers pass');
  // A client's own Bearer on a route no token kind judges: admitted anonymously, and not passed on as if vouched for.
  const forged = await rawRequest(`${stack.url}/mixed/x`, { headers: { authorization: 'Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9.x' } });
  assert.equal(forged.status, 200);
  assert.equal(forged.json<Echo>().authorization, undefined, 'an unverified Bearer never reaches the upstream');
  const both = await rawRequest(`${stack.url}/mixed/x`, { headers: { cookie: jar.header(), authorization: 'Bearer forged.token.here' } });
  assert.notEqual(both.json<Echo>().authorization, 'Bearer forged.token.here');
  const other = await rawRequest(`${stack.url}/auth/sessions/${'a'.repeat(22)}`, { method: 'DELETE', headers: { cookie: jar.header(), origin: stack.url } });
  assert.equal(other.status, 404);
  assert.equal(code(other), 'GH_SESSION_NOT_FOUND');
});

for (const mode of ['stateful', 'stateless'] as const) {
  test(`${mode}: the other mode's cookies (a mode switch, a mixed rolling deploy) and any other __Host-gh_ cookie never reach an upstream`, async (t) => {
    const stack = await startSessionStack({ mode });
    t.after(() => stack.close());
    const foreign = [
      `__Host-gh_sid=${randomBytes(32).toString('base64url')}`,
      '__Host-gh_s.0=2~eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0..aaaa',
      '__Host-gh_s.1=bbbb',
      '__Host-gh_future=1',
    ].join('; ');
    const pub = await rawRequest(`${stack.url}/public/x`, { headers: { cookie: `app=1; ${foreign}; theme=dark` } });
    assert.equal(pub.status, 200);
    assert.equal(pub.json<Echo>().cookie, 'app=1; theme=dark', 'a public route');
    // A session route: the browser's session of this mode beside the other mode's leftovers.
    const { jar } = await stack.login();
    const own = jar.header();
    const withLeftovers = mode === 'stateful' ? `${own}; ${foreign.replace(/__Host-gh_sid=[^;]*; /, '')}` : `${foreign.replace(/__Host-gh_s\.\d=[^;]*; /g, '')}; ${own}`;
    const api = await rawRequest(`${stack.url}/api/x`, { headers: { cookie: `app=1; ${withLeftovers}` } });
    assert.equal(api.status, 200, api.body);
    assert.match(api.json<Echo>().authorization ?? '', /^Bearer /);
    assert.equal(api.json<Echo>().cookie, 'app=1', 'a session route');
  });
}

test('with the sessions section removed (a reload), the browser\'s __Host-gh_ cookies still never reach an upstream', async (t) => {
  const stack = await startSessionStack({ mode: 'stateless' });
  t.after(() => stack.close());
  const { jar } = await stack.login();
  const gateway = stack.gateways[0];
  assert.ok(gateway);
  await gateway.reload(
    ConfigSchema.parse({
      listen: { host: '127.0.0.1', port: Number(new URL(stack.url).port) },
      admin: { enabled: false },
      logging: { level: 'silent' },
      routes: [{ path: '/public', upstream: stack.upstream.url, auth: 'none' }],
    }),
  );
  // The sealed session (tokens) the browser still holds, the other mode's id and any other name in the namespace.
  const cookie = `app=1; ${jar.header()}; __Host-gh_sid=${randomBytes(32).toString('base64url')}; __Host-gh_future=1; theme=dark`;
  const pub = await rawRequest(`${stack.url}/public/x`, { headers: { cookie } });
  assert.equal(pub.status, 200, pub.body);
  assert.equal(pub.json<Echo>().cookie, 'app=1; theme=dark');
  const only = await rawRequest(`${stack.url}/public/x`, { headers: { cookie: jar.header() } });
  assert.equal(only.json<Echo>().cookie, undefined, 'no Cookie header at all when only the gateway\'s were sent');
});

test('logout by form navigation continues to the provider end-session endpoint; login while the provider is down is 503', async (t) => {
  const stack = await startSessionStack({ mode: 'stateful' });
  t.after(() => stack.close());
  const { jar } = await stack.login();
  const out = await rawRequest(`${stack.url}/auth/logout`, {
    method: 'POST',
    headers: { cookie: jar.header(), origin: stack.url, 'sec-fetch-mode': 'navigate', 'sec-fetch-site': 'same-origin' },
  });
  assert.equal(out.status, 303);
  const to = new URL(String(out.headers.location));
  assert.equal(to.origin, stack.auth.issuer);
  assert.ok(to.searchParams.get('id_token_hint'), 'id_token_hint sent');
  assert.equal(to.searchParams.get('post_logout_redirect_uri'), `${stack.url}/`);
  assert.ok(out.setCookies.some((c) => c.startsWith('__Host-gh_sid=;')));
  assert.equal((await rawRequest(`${stack.url}/api/x`, { headers: { cookie: jar.header() } })).status, 401);

  await stack.auth.service.close();
  const fresh = await startSessionStack({ mode: 'stateless' });
  t.after(() => fresh.close());
  await fresh.auth.service.close();
  const login = await rawRequest(`${fresh.url}/auth/login`);
  assert.equal(login.status, 503, 'discovery fails: the provider is unreachable');
  assert.equal(login.json().code, 'GH_PROVIDER_UNAVAILABLE');
});

test('a page navigation with a dead session cookie is redirected to login and the cookie is cleared; an API call gets 401', async (t) => {
  const stack = await startSessionStack({ mode: 'stateful' });
  t.after(() => stack.close());
  const dead = `__Host-gh_sid=${randomBytes(32).toString('base64url')}`;
  const nav = await rawRequest(`${stack.url}/app/page?q=1`, { headers: { cookie: dead, 'sec-fetch-mode': 'navigate', 'sec-fetch-dest': 'document' } });
  assert.equal(nav.status, 302);
  assert.equal(nav.headers.location, `/auth/login?return_to=${encodeURIComponent('/app/page?q=1')}`);
  assert.ok(nav.setCookies.some((c) => /^__Host-gh_sid=;.*Max-Age=0/.test(c)));
  const api = await rawRequest(`${stack.url}/app/data`, { headers: { cookie: dead, 'sec-fetch-mode': 'cors' } });
  assert.equal(api.status, 401, 'fetch() from the page: 401, not a redirect');
  assert.equal(code(api), 'GH_SESSION_EXPIRED');
  const apiRoute = await rawRequest(`${stack.url}/api/data`, { headers: { cookie: dead, 'sec-fetch-mode': 'navigate' } });
  assert.equal(apiRoute.status, 401, 'login: status never redirects');
  const post = await rawRequest(`${stack.url}/app/form`, { method: 'POST', headers: { origin: stack.url, 'sec-fetch-mode': 'navigate' } });
  assert.equal(post.status, 401, 'an unsafe navigation is not redirected (its body would be lost)');
});

test('login carries state, nonce and PKCE S256; a callback whose ID token nonce is not the login\'s → 400 GH_LOGIN_FAILED, no session', async (t) => {
  const stack = await startSessionStack({ mode: 'stateful' });
  t.after(() => stack.close());
  const start = await rawRequest(`${stack.url}/auth/login`);
  assert.equal(start.status, 302);
  const to = new URL(String(start.headers.location));
  for (const p of ['state', 'nonce', 'code_challenge']) assert.match(to.searchParams.get(p) ?? '', /^[A-Za-z0-9_-]{32,}$/, p);
  assert.equal(to.searchParams.get('code_challenge_method'), 'S256');
  assert.equal(to.searchParams.get('response_type'), 'code');

  // Same state and PKCE challenge, another nonce: only the ID token's nonce differs from the transaction's.
  to.searchParams.set('nonce', randomBytes(32).toString('base64url'));
  const form = { username: stack.auth.user.username, password: stack.auth.user.password, redirectUri: `${stack.url}/auth/callback` };
  const callback = await loginWithForm(to.href, form);
  const tx = start.setCookies.map((c) => c.split(';')[0]).join('; ');
  const done = await rawRequest(callback.href, { headers: { cookie: tx } });
  assert.equal(done.status, 400, done.body);
  assert.equal(code(done), 'GH_LOGIN_FAILED');
  assert.ok(!done.setCookies.some((c) => c.startsWith('__Host-gh_sid=') && !/Max-Age=0/.test(c)), 'no session issued');
});

for (const mode of ['stateful', 'stateless'] as const) {
  test(`${mode}: CSRF is checked on the in-memory fast path too: after successful GETs, cross-origin unsafe requests → 403`, async (t) => {
    const stack = await startSessionStack({ mode });
    t.after(() => stack.close());
    const { jar } = await stack.login();
    const cookie = jar.header();
    // Two GETs: the first loads (and caches) the session, the second is answered from memory.
    for (let i = 0; i < 2; i++) assert.equal((await rawRequest(`${stack.url}/api/orders`, { headers: { cookie } })).status, 200);
    for (const method of ['POST', 'PUT', 'PATCH', 'DELETE']) {
      for (const headers of [{ origin: 'http://evil.example' }, { 'sec-fetch-site': 'cross-site' }, {}] as Record<string, string>[]) {
        const r = await rawRequest(`${stack.url}/api/orders`, { method, headers: { cookie, ...headers } });
        assert.equal(r.status, 403, `${method} ${JSON.stringify(headers)}`);
        assert.equal(code(r), 'GH_CSRF_REJECTED');
      }
    }
    assert.equal((await rawRequest(`${stack.url}/api/orders`, { method: 'POST', headers: { cookie, origin: stack.url } })).status, 200, 'our own origin passes');
  });
}

test('stateless: a cookie sealed under a key the gateway no longer has → 401 GH_SESSION_INVALID, cookies cleared; while the old key is still listed it opens', async (t) => {
  const k1 = { id: 'k1', secret: randomBytes(32).toString('base64url') };
  const k2 = { id: 'k2', secret: randomBytes(32).toString('base64url') };
  const stack = await startSessionStack({ mode: 'stateless', keys: [k1] });
  t.after(() => stack.close());
  const { jar } = await stack.login();
  await stack.reloadSessions({ keys: [k2, k1] });
  assert.equal((await rawRequest(`${stack.url}/api/orders`, { headers: { cookie: jar.header() } })).status, 200, 'rotated: k2 seals, k1 still opens');
  await stack.reloadSessions({ keys: [k2] });
  const r = await rawRequest(`${stack.url}/api/orders`, { headers: { cookie: jar.header() } });
  assert.equal(r.status, 401);
  assert.equal(code(r), 'GH_SESSION_INVALID');
  assert.ok(r.setCookies.length > 0 && r.setCookies.every((c) => /^__Host-gh_s\.\d=;.*Max-Age=0/.test(c)), 'cookies cleared');
  const again = await stack.login();
  assert.equal((await rawRequest(`${stack.url}/api/orders`, { headers: { cookie: again.jar.header() } })).status, 200, 'a new login works under k2');
});

test('stateless: a re-sealed cookie lives to the absolute end counted from the login, not from the re-seal', async (t) => {
  const clock = offsetClock();
  const stack = await startSessionStack({ mode: 'stateless', now: clock.now, sessions: { idleTimeout: '2h', absoluteTimeout: '5h', touchInterval: 0 } });
  t.after(() => stack.close());
  const { jar } = await stack.login();
  const maxAge = (r: { setCookies: string[] }) => Number(/Max-Age=(\d+)/.exec(r.setCookies.find((c) => c.startsWith('__Host-gh_s.0=')) ?? '')?.[1]);
  clock.advance(3600_000);
  const r = await rawRequest(`${stack.url}/api/orders`, { headers: { cookie: jar.header() } });
  assert.equal(r.status, 200);
  const left = maxAge(r);
  assert.ok(Math.abs(left - 4 * 3600) <= 2, `Max-Age=${left}, expected about ${4 * 3600}`);
});

test('a transaction cookie the gateway never made (a name that is no cookie token) does not break login: 302 to the provider, cookie left alone', async (t) => {
  const stack = await startSessionStack({ mode: 'stateful' });
  t.after(() => stack.close());
  for (const cookie of ['__Host-gh_login_a b.0=x', '__Host-gh_login_ab(c.0=x', '__Host-gh_login_a/b.0=x']) {
    const r = await rawRequest(`${stack.url}/auth/login?return_to=/app`, { headers: { cookie } });
    assert.equal(r.status, 302, `${cookie}: ${r.body}`);
    assert.match(String(r.headers.location), new RegExp(`^${stack.auth.issuer}/`));
    assert.equal(r.setCookies.length, 1, 'only the new transaction');
  }
});

/** A store that fails with a plain (non-Gatehouse) error on every read. */
class BrokenStore extends MemorySessionStore {
  override get(_key: SessionKey): Promise<StoredSession | undefined> {
    return Promise.reject(new TypeError('store broke'));
  }
}

test('an unexpected error in an /auth endpoint is 500 GH_INTERNAL and logged at error level with the request id, never the cookie', async (t) => {
  const store = new BrokenStore({ sweepIntervalMs: 0 });
  const stack = await startSessionStack({ mode: 'stateful', sessionStores: [store] });
  t.after(async () => {
    await stack.close();
    await store.close();
  });
  const sid = randomBytes(32).toString('base64url');
  const r = await rawRequest(`${stack.url}/auth/sessions`, { headers: { cookie: `__Host-gh_sid=${sid}`, 'x-request-id': 'req-auth-500' } });
  assert.equal(r.status, 500, r.body);
  assert.equal(code(r), 'GH_INTERNAL');
  assert.equal(r.headers['x-request-id'], 'req-auth-500', 'the answer names the request its log line does');
  const lines = stack.logs().filter((l) => l.requestId === 'req-auth-500');
  assert.equal(lines.length, 1, JSON.stringify(stack.logs()));
  assert.equal(lines[0]?.level, 'error');
  assert.match(JSON.stringify(lines[0]), /store broke/);
  assert.ok(!JSON.stringify(stack.logs()).includes(sid), 'the session id never reaches the log');
});

test('a deep link longer than return_to allows still logs in (its query is dropped); a return_to that only grows past the limit once encoded is 400 GH_BAD_REQUEST', async (t) => {
  const stack = await startSessionStack({ mode: 'stateful' });
  t.after(() => stack.close());
  const nav = await rawRequest(`${stack.url}/app/search?q=${'a'.repeat(2100)}`, { headers: { 'sec-fetch-mode': 'navigate' } });
  assert.equal(nav.status, 302);
  assert.equal(nav.headers.location, `/auth/login?return_to=${encodeURIComponent('/app/search')}`);
  const start = await rawRequest(`${stack.url}${String(nav.headers.location)}`, { headers: { 'sec-fetch-mode': 'navigate' } });
  assert.equal(start.status, 302, start.body);
  assert.match(String(start.headers.location), new RegExp(`^${stack.auth.issuer}/`));
  const callback = await loginWithForm(String(start.headers.location), { username: stack.auth.user.username, password: stack.auth.user.password, redirectUri: `${stack.url}/auth/callback` });
  const done = await rawRequest(callback.href, { headers: { cookie: start.setCookies.map((c) => c.split(';')[0]).join('; ') } });
  assert.equal(done.status, 302, done.body);
  assert.equal(done.headers.location, '/app/search');

  const longPath = await rawRequest(`${stack.url}/app/${'a'.repeat(2100)}`, { headers: { 'sec-fetch-mode': 'navigate' } });
  assert.equal(longPath.headers.location, `/auth/login?return_to=${encodeURIComponent('/')}`);
  assert.equal((await rawRequest(`${stack.url}${String(longPath.headers.location)}`)).status, 302);

  for (const target of [`/app/${'é'.repeat(1000)}`, `/app/${'"'.repeat(2000)}`]) {
    const r = await rawRequest(`${stack.url}/auth/login?return_to=${encodeURIComponent(target)}`);
    assert.equal(r.status, 400, r.body);
    assert.equal(code(r), 'GH_BAD_REQUEST');
  }
});
