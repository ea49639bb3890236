import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import * as oidc from 'openid-client';
import { startAuthService } from '../../src/auth-service/index.js';
import { RedisSessionStore } from '../../src/sessions/redis/redis-store.js';
import { discoverClient, loginWithForm } from '../helpers/auth-service.js';
import { deletePrefix, DisposableRedis, randomPrefix, REDIS_URL } from '../helpers/sessions.js';
import { waitUntil } from '../helpers/wait.js';
import { CookieJar, cookieMap, offsetClock, openStatelessSession, rawRequest, readStatefulSession, startSessionStack, type Echo, type RawResponse, type SessionStack } from '../helpers/session-stack.js';
import type { SessionTokens } from '../../src/sessions/refresh.js';

const prefix = randomPrefix('e2e');
after(() => deletePrefix(REDIS_URL, prefix));

const apiCall = (url: string, cookie: string) => rawRequest(`${url}/api/orders`, { headers: { cookie } });

for (const mode of ['stateful', 'stateless'] as const) {
  test(`${mode}: an expired access token is refreshed before forwarding, once for 20 concurrent requests (counted at the provider)`, async (t) => {
    const clock = offsetClock();
    const stack = await startSessionStack({ mode, now: clock.now });
    t.after(() => stack.close());
    const { jar } = await stack.login();
    const first = (await apiCall(stack.url, jar.header())).json<Echo>();
    clock.advance(301_000); // past the 300 s access token
    const results = await Promise.all(Array.from({ length: 20 }, () => apiCall(stack.url, jar.header())));
    assert.equal(stack.refreshGrants(), 1, 'exactly one refresh at the provider');
    const counted = await stack.metrics[0]?.sessionRefreshes.get();
    const by = (o: string) => counted?.values.find((v) => v.labels.outcome === o)?.value ?? 0;
    assert.equal(by('refreshed'), 1, 'gatehouse_session_refreshes_total{outcome="refreshed"}');
    assert.equal(by('refused') + by('failed'), 0);
    assert.equal((await stack.metrics[0]?.sessionLogins.get())?.values.find((v) => v.labels.result === 'ok')?.value, 1);
    const bearers = new Set(results.map((r) => r.json<Echo>().authorization));
    assert.equal(bearers.size, 1, 'every request forwarded the same new token');
    assert.notEqual([...bearers][0], first.authorization);
    for (const r of results) assert.equal(r.status, 200);
    if (mode === 'stateless') assert.ok(results.every((r) => r.setCookies.some((c) => c.startsWith('__Host-gh_s.0='))), 'the re-sealed session goes back to the browser');
    // The family was not revoked by a replay: the session keeps working and refreshes again later.
    for (const c of results[0]?.setCookies ?? []) jar.store(new Response(null, { headers: { 'set-cookie': c } }));
    clock.advance(301_000);
    const later = await apiCall(stack.url, jar.header());
    assert.equal(later.status, 200);
    assert.equal(stack.refreshGrants(), 2);
  });

  test(`${mode}: idle and absolute timeouts are enforced by the gateway clock`, async (t) => {
    const clock = offsetClock();
    const stack = await startSessionStack({ mode, now: clock.now, sessions: { idleTimeout: '1h', absoluteTimeout: '5h', touchInterval: 0 } });
    t.after(() => stack.close());
    let { jar } = await stack.login();
    clock.advance(3601_000);
    const idle = await apiCall(stack.url, jar.header());
    assert.equal(idle.status, 401);
    assert.equal(idle.json().code, 'GH_SESSION_EXPIRED');

    ({ jar } = await stack.login());
    for (let i = 0; i < 5; i++) {
      clock.advance(50 * 60_000);
      const r = await apiCall(stack.url, jar.header());
      assert.equal(r.status, 200, `use ${i + 1} within the idle window: ${r.body}`);
      for (const c of r.setCookies) jar.store(new Response(null, { headers: { 'set-cookie': c } }));
    }
    clock.advance(50 * 60_000); // 300 minutes after login: the 5 h absolute limit
    const absolute = await apiCall(stack.url, jar.header());
    assert.equal(absolute.status, 401);
    assert.equal(absolute.json().code, 'GH_SESSION_EXPIRED');
  });

  test(`${mode}: provider down during refresh → 503 GH_PROVIDER_UNAVAILABLE, the session is kept`, async (t) => {
    const clock = offsetClock();
    const stack = await startSessionStack({ mode, now: clock.now });
    t.after(() => stack.close());
    const { jar } = await stack.login();
    await stack.auth.service.close();
    clock.advance(301_000);
    const down = await apiCall(stack.url, jar.header());
    assert.equal(down.status, 503);
    assert.equal(down.json().code, 'GH_PROVIDER_UNAVAILABLE');
    assert.ok(!down.setCookies.some((c) => /Max-Age=0/.test(c)), 'cookies not cleared');
    const revived = await startAuthService(stack.auth.config, { now: clock.now });
    t.after(() => revived.close());
    const back = await apiCall(stack.url, jar.header());
    assert.equal(back.status, 200);
    assert.match(back.json<Echo>().authorization ?? '', /^Bearer /);
  });
}

for (const mode of ['stateful', 'stateless'] as const) {
  test(`${mode}: provider down while the access token is due but still valid → 200 with that token, the failure logged; once it has expired → 503`, async (t) => {
    const clock = offsetClock();
    const stack = await startSessionStack({ mode, now: clock.now });
    t.after(() => stack.close());
    const { jar } = await stack.login();
    const before = await apiCall(stack.url, jar.header());
    assert.equal(before.status, 200);
    await stack.auth.service.close();
    clock.advance(280_000); // the 300 s token has 20 s left: inside the 30 s refresh window
    const due = await apiCall(stack.url, jar.header());
    assert.equal(due.status, 200, 'an outage costs nothing while the token is valid');
    assert.equal(due.json<Echo>().authorization, before.json<Echo>().authorization, 'the current token goes upstream');
    assert.deepEqual(stack.logs().map((l) => [l.call, l.outcome, l.answered]), [['refresh', 'unreachable', 'GH_PROVIDER_UNAVAILABLE']]);
    clock.advance(16_000); // 4 s left: too little for an upstream to accept it
    const expired = await apiCall(stack.url, jar.header());
    assert.equal(expired.status, 503);
    assert.equal(expired.json().code, 'GH_PROVIDER_UNAVAILABLE');
  });

  test(`${mode}: provider down while the token is due but still valid: the refresh is asked again once per retry interval, not on every request; the requests between go on at once with the token, counted as deferred`, async (t) => {
    const clock = offsetClock();
    const stack = await startSessionStack({ mode, now: clock.now });
    t.after(() => stack.close());
    // The refresh attempts, counted at the relay: the provider behind it is down.
    const grants = () => stack.relay.count('refresh_token');
    const { jar } = await stack.login();
    await stack.auth.service.close();
    clock.advance(275_000); // the 300 s token has 25 s left: due, and usable
    for (let i = 0; i < 4; i++) {
      const r = await apiCall(stack.url, jar.header());
      assert.equal(r.status, 200, `request ${i}`);
    }
    assert.equal(grants(), 1, 'one refresh attempt for four requests within the retry interval');
    const deferred = (await stack.metrics[0]?.sessionRefreshes.get())?.values.find((v) => v.labels.outcome === 'deferred')?.value;
    assert.equal(deferred, 3);
    clock.advance(5_000); // the retry interval has passed: 20 s left
    const again = await apiCall(stack.url, jar.header());
    assert.equal(again.status, 200);
    assert.equal(grants(), 2, 'asked again after the retry interval');
    clock.advance(11_000); // 9 s left, the interval passed: asked again, and failed again
    assert.equal((await apiCall(stack.url, jar.header())).status, 200);
    assert.equal(grants(), 3);
    clock.advance(4_500); // 4.5 s left, within the interval of that failure: too little to go on with
    const expired = await apiCall(stack.url, jar.header());
    assert.equal(expired.status, 503);
    assert.equal(grants(), 4, 'an unusable token is never deferred: the refresh is tried');
  });

  test(`${mode}: a refresh that times out is judged by the clock after the wait: a token that ran low meanwhile is not forwarded → 503`, async (t) => {
    const clock = offsetClock();
    const stack = await startSessionStack({ mode, now: clock.now });
    t.after(() => stack.close());
    const { jar } = await stack.login();
    // The token endpoint hangs until the gateway gives up (provider.timeoutMs, 2 s here).
    const hung = stack.relay.when('refresh_token', { do: 'hold-request' });
    clock.advance(292_000); // 8 s left: due, and usable when the refresh starts
    const pending = apiCall(stack.url, jar.header());
    await waitUntil(() => hung.matched === 1, 'the refresh is under way');
    clock.advance(5_000); // 3 s left once the refresh has failed
    const r = await pending;
    assert.equal(r.status, 503);
    assert.equal(r.json().code, 'GH_PROVIDER_UNAVAILABLE');
    await stack.relay.settled();
    assert.deepEqual(stack.relay.exchanges().filter((e) => e.grantType === 'refresh_token').map((e) => e.outcome), ['abandoned'], 'the gateway gave up waiting');
    assert.equal(stack.refreshGrants(), 0, 'the provider never saw the refresh');
  });

  test(`${mode}: POST /auth/refresh during a provider outage, the token still valid: that token with its true expires_in, and the failure logged`, async (t) => {
    const clock = offsetClock();
    const stack = await startSessionStack({ mode, now: clock.now });
    t.after(() => stack.close());
    const { jar } = await stack.login();
    await stack.auth.service.close();
    clock.advance(280_000);
    const r = await rawRequest(`${stack.url}/auth/refresh`, { method: 'POST', headers: { cookie: jar.header(), origin: stack.url } });
    assert.equal(r.status, 200);
    const expiresIn = Number(r.json().expires_in);
    assert.ok(expiresIn > 5 && expiresIn <= 20, `expires_in ${expiresIn}`);
    assert.deepEqual(stack.logs().map((l) => [l.call, l.outcome]), [['refresh', 'unreachable']]);
  });

  test(`${mode}: access tokens living no longer than refreshSkew are refreshed at half their lifetime, not on every request`, async (t) => {
    const clock = offsetClock();
    // The provider's tokens live 300 s: a 6 min skew alone would make each one due the moment it arrives.
    const stack = await startSessionStack({ mode, now: clock.now, sessions: { refreshSkew: '6m' } });
    t.after(() => stack.close());
    const { jar } = await stack.login();
    const call = async () => {
      const r = await apiCall(stack.url, jar.header());
      assert.equal(r.status, 200, r.body);
      for (const c of r.setCookies) jar.store(new Response(null, { headers: { 'set-cookie': c } }));
      return r.json<Echo>().authorization;
    };
    const first = await call();
    for (let i = 0; i < 4; i++) assert.equal(await call(), first);
    assert.equal(stack.refreshGrants(), 0, 'the login\'s token is fresh');
    clock.advance(151_000); // past half the lifetime
    const second = await call();
    assert.notEqual(second, first);
    for (let i = 0; i < 4; i++) assert.equal(await call(), second);
    assert.equal(stack.refreshGrants(), 1, 'one refresh, then the new token is used');
    clock.advance(151_000);
    await call();
    assert.equal(stack.refreshGrants(), 2);
  });
}

// Stateless mode re-seals the cookies into forwarded responses (stateful mode's cookie never changes there).
test('stateless: an upstream response the gateway adds a session cookie to is made uncacheable (private, no-store, no CDN caching fields); others pass as they came', async (t) => {
  const clock = offsetClock();
  const stack = await startSessionStack({ mode: 'stateless', now: clock.now });
  t.after(() => stack.close());
  const { jar } = await stack.login();
  const cacheable = () => rawRequest(`${stack.url}/api/cacheable`, { headers: { cookie: jar.header() } });
  const plain = await cacheable();
  assert.equal(plain.status, 200);
  assert.deepEqual(plain.setCookies, []);
  assert.equal(plain.headers['cache-control'], 'public, max-age=600, s-maxage=600', 'no cookie added: the upstream decides');
  assert.equal(plain.headers['cdn-cache-control'], 'max-age=600');
  clock.advance(301_000); // the access token expired: refreshed and re-sealed into the cookies
  const refreshed = await cacheable();
  assert.equal(refreshed.status, 200);
  assert.ok(refreshed.setCookies.some((c) => c.startsWith('__Host-gh_s.0=')), 'the re-sealed session goes back to the browser');
  assert.equal(refreshed.headers['cache-control'], 'private, no-store', 'no cache may store the sealed tokens');
  assert.equal(refreshed.headers['cdn-cache-control'], undefined);
  assert.equal(refreshed.headers['surrogate-control'], undefined);
  assert.equal(refreshed.headers['content-type'], 'application/json', 'the other headers are kept');
  for (const c of refreshed.setCookies) jar.store(new Response(null, { headers: { 'set-cookie': c } }));
  clock.advance(61_000); // a last-seen touch re-seals too
  const touched = await cacheable();
  assert.ok(touched.setCookies.length > 0);
  assert.equal(touched.headers['cache-control'], 'private, no-store');
});

test('the provider rejects the gateway\'s client (its secret rotated at the provider): refresh → 503 and the session is kept, counted as client_rejected, logged at warn with the OAuth code and status; a login → 400, logged too; no secret or token in the log', async (t) => {
  const clock = offsetClock();
  const stack = await startSessionStack({ mode: 'stateful', now: clock.now });
  t.after(() => stack.close());
  const { jar } = await stack.login();
  const original = stack.auth.config;
  // The provider now expects another secret: every token-endpoint call of the gateway is refused (401 invalid_client).
  await stack.auth.service.close();
  const rotated = await startAuthService(
    { ...original, clients: original.clients.map((c) => (c.clientId === stack.clientId ? { ...c, clientSecret: randomBytes(24).toString('base64url') } : c)) },
    { now: clock.now },
  );
  let rotatedRunning = true;
  t.after(() => (rotatedRunning ? rotated.close() : undefined));
  clock.advance(301_000);
  for (let i = 0; i < 3; i++) {
    const r = await apiCall(stack.url, jar.header());
    assert.equal(r.status, 503, r.body);
    assert.equal(r.json().code, 'GH_PROVIDER_UNAVAILABLE');
    assert.deepEqual(r.setCookies, [], 'the session is kept');
  }
  const counted = (await stack.metrics[0]?.sessionRefreshes.get())?.values ?? [];
  assert.deepEqual(counted.map((v) => [v.labels.outcome, v.value]), [['client_rejected', 3]], 'not counted as an outage');
  const refreshLines = stack.logs().filter((l) => l.call === 'refresh');
  assert.equal(refreshLines.length, 1, 'one line, not one per request');
  assert.equal(refreshLines[0]?.level, 'warn');
  assert.equal(refreshLines[0]?.outcome, 'client_rejected');
  assert.equal(refreshLines[0]?.oauthError, 'invalid_client');
  assert.equal(refreshLines[0]?.httpStatus, 401);
  assert.match(String(refreshLines[0]?.msg), /rejected the gateway's client/);
  assert.equal(typeof refreshLines[0]?.requestId, 'string');

  await assert.rejects(stack.login(), /callback: HTTP 400/);
  const loginLine = stack.logs().find((l) => l.call === 'login');
  assert.equal(loginLine?.outcome, 'client_rejected');
  assert.equal(loginLine?.oauthError, 'invalid_client');
  assert.equal(loginLine?.httpStatus, 401);
  const text = JSON.stringify(stack.logs());
  assert.ok(!text.includes(stack.clientSecret), 'no client secret');
  for (const [, value] of cookieMap(jar.header())) assert.ok(!text.includes(value), 'no cookie value');
  assert.ok(!/eyJ[A-Za-z0-9_-]{10}/.test(text), 'no token');

  // The secret is right again: the kept session refreshes.
  await rotated.close();
  rotatedRunning = false;
  const revived = await startAuthService(original, { now: clock.now });
  t.after(() => revived.close());
  const back = await apiCall(stack.url, jar.header());
  assert.equal(back.status, 200, back.body);
});

test('the token endpoint answers the login\'s code exchange after provider.timeoutMs → 503 GH_PROVIDER_UNAVAILABLE (an outage, not a failed login), logged as a timeout', async (t) => {
  const stack = await startSessionStack({ mode: 'stateful' });
  t.after(() => stack.close());
  // The provider redeems the code in full; its answer is held until the gateway has given up.
  const late = stack.relay.when('authorization_code', { do: 'hold-answer' });
  await assert.rejects(stack.login(), /callback: HTTP 503 .*GH_PROVIDER_UNAVAILABLE/);
  await stack.relay.settled();
  late.release();
  assert.deepEqual(stack.relay.exchanges().filter((e) => e.grantType === 'authorization_code').map((e) => [e.outcome, e.status]), [['abandoned', 200]]);
  assert.deepEqual(stack.logs().map((l) => [l.call, l.outcome, l.answered]), [['login', 'timeout', 'GH_PROVIDER_UNAVAILABLE']]);
  await stack.login();
});

for (const mode of ['stateful', 'stateless'] as const) {
  test(`${mode}: the token endpoint rotates the refresh token but answers after provider.timeoutMs → 503; the next request replays the consumed token, the provider refuses it and the session ends; the log shows timeout, then grant_refused`, async (t) => {
    const clock = offsetClock();
    const stack = await startSessionStack({ mode, now: clock.now }); // provider.timeoutMs: 2000
    t.after(() => stack.close());
    const { jar } = await stack.login();
    clock.advance(301_000);
    // The provider rotates the refresh token in full; its answer is held until the gateway has given up.
    const held = stack.relay.when('refresh_token', { do: 'hold-answer' });
    const late = await apiCall(stack.url, jar.header());
    await stack.relay.settled();
    held.release();
    assert.equal(late.status, 503, late.body);
    assert.equal(late.json().code, 'GH_PROVIDER_UNAVAILABLE');
    assert.equal(stack.refreshGrants(), 1, 'the provider did rotate');
    assert.deepEqual(stack.relay.exchanges().filter((e) => e.grantType === 'refresh_token').map((e) => [e.outcome, e.status]), [['abandoned', 200]]);
    const next = await apiCall(stack.url, jar.header());
    assert.equal(next.status, 401, next.body);
    assert.equal(next.json().code, 'GH_SESSION_EXPIRED');
    assert.equal(stack.refusedRefreshGrants(), 1, 'the old refresh token was replayed and refused');
    assert.deepEqual(
      stack.logs().filter((l) => l.call === 'refresh').map((l) => [l.outcome, l.oauthError]),
      [['timeout', undefined], ['grant_refused', 'invalid_grant']],
    );
  });
}

test('two gateway instances on one Redis: 20 concurrent requests across both → one refresh', async (t) => {
  const clock = offsetClock();
  const stack = await startSessionStack({ mode: 'stateful', now: clock.now, instances: 2, store: { kind: 'redis', url: REDIS_URL, prefix } });
  t.after(() => stack.close());
  const { jar } = await stack.login();
  const [a, b] = stack.gateways.map((g) => g.url) as [string, string];
  assert.equal((await apiCall(b, jar.header())).status, 200, 'the other instance knows the session');
  clock.advance(301_000);
  const results = await Promise.all(Array.from({ length: 20 }, (_, i) => apiCall(i % 2 ? a : b, jar.header())));
  assert.ok(results.every((r) => r.status === 200));
  assert.equal(new Set(results.map((r) => r.json<Echo>().authorization)).size, 1);
  assert.equal(stack.refreshGrants(), 1);
});

for (const mode of ['stateful', 'stateless'] as const) {
  test(`${mode}: two gateway processes on one Redis: 20 concurrent requests across both → one refresh at the provider; the next expiry, through the other process → one more`, async (t) => {
    const clock = offsetClock();
    const stack = await startSessionStack({ mode, now: clock.now, instances: 2, childProcesses: true, store: { kind: 'redis', url: REDIS_URL, prefix } });
    t.after(() => stack.close());
    assert.equal(stack.urls.length, 2);
    const [a, b] = stack.urls as [string, string];
    const { jar } = await stack.login();
    assert.equal((await apiCall(b, jar.header())).status, 200, 'the other process knows the session');
    clock.advance(301_000);
    await stack.advanceChildren(301_000);
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => apiCall(i % 2 ? a : b, jar.header())));
    assert.ok(results.every((r) => r.status === 200), results.map((r) => r.status).join(','));
    assert.equal(new Set(results.map((r) => r.json<Echo>().authorization)).size, 1, 'both processes forwarded the same new token');
    assert.equal(stack.refreshGrants(), 1);
    if (mode === 'stateless') for (const c of results[0]?.setCookies ?? []) jar.store(new Response(null, { headers: { 'set-cookie': c } }));

    // The process that did not call the provider the first time does now: it must have the rotated refresh token.
    const refreshedByA = (await stack.metrics[0]?.sessionRefreshes.get())?.values.find((v) => v.labels.outcome === 'refreshed')?.value ?? 0;
    const other = refreshedByA === 1 ? b : a;
    clock.advance(301_000);
    await stack.advanceChildren(301_000);
    const again = await apiCall(other, jar.header());
    assert.equal(again.status, 200, again.body);
    assert.notEqual(again.json<Echo>().authorization, results[0]?.json<Echo>().authorization);
    assert.equal(stack.refreshGrants(), 2);
    assert.equal(stack.refusedRefreshGrants(), 0);
  });
}

test('Redis down → 503 GH_SESSION_STORE_UNAVAILABLE; once back, the session is still there', async (t) => {
  const redis = await DisposableRedis.start();
  t.after(() => redis.dispose());
  const stack = await startSessionStack({ mode: 'stateful', store: { kind: 'redis', url: redis.url, prefix: 'gh:' }, sessions: { touchInterval: 0 } });
  t.after(() => stack.close());
  const { jar } = await stack.login();
  assert.equal((await apiCall(stack.url, jar.header())).status, 200);
  await redis.stop();
  const down = await apiCall(stack.url, jar.header());
  assert.equal(down.status, 503);
  assert.equal(down.json().code, 'GH_SESSION_STORE_UNAVAILABLE');
  assert.ok(!down.setCookies.some((c) => /Max-Age=0/.test(c)), 'cookie kept');
  const login = await rawRequest(`${stack.url}/auth/sessions`, { headers: { cookie: jar.header() } });
  assert.equal(login.status, 503);
  await redis.start();
  let back = await apiCall(stack.url, jar.header());
  for (let i = 0; i < 100 && back.status === 503; i++) {
    await new Promise((r) => setTimeout(r, 50));
    back = await apiCall(stack.url, jar.header());
  }
  assert.equal(back.status, 200);
  assert.match(back.json<Echo>().authorization ?? '', /^Bearer /);
});

for (const mode of ['stateful', 'stateless'] as const) {
  test(`${mode}: logout while Redis is down → 503 with the cookies cleared; stateless also revokes the cookie's refresh token, so a copy of the cookie dies at its next refresh`, async (t) => {
    const redis = await DisposableRedis.start();
    t.after(() => redis.dispose());
    const clock = offsetClock();
    const stack = await startSessionStack({ mode, now: clock.now, store: { kind: 'redis', url: redis.url, prefix: 'gh:' } });
    t.after(() => stack.close());
    const { jar } = await stack.login();
    const copy = jar.header();
    await redis.stop();
    const out = await rawRequest(`${stack.url}/auth/logout`, { method: 'POST', headers: { cookie: copy, origin: stack.url, 'sec-fetch-mode': 'navigate' } });
    assert.equal(out.status, 503);
    assert.equal(out.json().code, 'GH_SESSION_STORE_UNAVAILABLE');
    const name = mode === 'stateful' ? '__Host-gh_sid' : '__Host-gh_s.0';
    assert.ok(out.setCookies.some((c) => c.startsWith(`${name}=;`) && c.includes('Max-Age=0')), `${name} cleared: ${out.setCookies.join(' | ')}`);
    jar.store(new Response(null, { headers: out.setCookies.map((c): [string, string] => ['set-cookie', c]) }));
    assert.equal(jar.header(), '', 'the browser holds no session cookie any more');

    await redis.start();
    const browser = await apiCall(stack.url, jar.header());
    assert.equal(browser.status, 401, 'signed out on this device');
    assert.equal(browser.json().code, 'GH_SESSION_MISSING');
    let copied = await apiCall(stack.url, copy);
    for (let i = 0; i < 100 && copied.status === 503; i++) {
      await new Promise((r) => setTimeout(r, 50));
      copied = await apiCall(stack.url, copy);
    }
    if (mode === 'stateful') {
      // The documented limit: the store could not delete the session, so a copy of the id lives to its idle end.
      assert.equal(copied.status, 200);
      return;
    }
    // The copy still opens (no logout marker was written) until its access token is due: then the refresh is refused.
    assert.equal(copied.status, 200);
    clock.advance(301_000);
    const refreshed = await apiCall(stack.url, copy);
    assert.equal(refreshed.status, 401, refreshed.body);
    assert.equal(refreshed.json().code, 'GH_SESSION_EXPIRED');
    assert.equal(stack.refusedRefreshGrants(), 1, 'the provider refused the revoked refresh token');
  });
}

for (const mode of ['stateful', 'stateless'] as const) {
  test(`${mode}: Redis down at the callback, after the code exchange → 503; the refresh token just issued is not revoked, for its grant may be the one of the browser's other session, which keeps refreshing`, async (t) => {
    const redis = await DisposableRedis.start();
    t.after(() => redis.dispose());
    const clock = offsetClock();
    const stack = await startSessionStack({ mode, now: clock.now, store: { kind: 'redis', url: redis.url, prefix: 'gh:' } });
    t.after(() => stack.close());
    // A session of this browser; then a second login (another tab) through the same provider session: one grant.
    const provider = new CookieJar();
    const { jar } = await stack.login('/app/home', undefined, { provider });
    const start = await rawRequest(`${stack.url}/auth/login`);
    const callback = await loginWithForm(String(start.headers.location), { username: stack.auth.user.username, password: stack.auth.user.password, redirectUri: `${stack.url}/auth/callback`, jar: provider });
    await redis.stop();
    const done = await rawRequest(callback.href, { headers: { cookie: start.setCookies.map((c) => c.split(';')[0]).join('; ') } });
    assert.equal(done.status, 503, done.body);
    assert.equal(done.json().code, 'GH_SESSION_STORE_UNAVAILABLE');
    // The last code exchange: the callback's, whose session could not be stored.
    const issued = stack.relay.answers('authorization_code').at(-1)?.refresh_token as string | undefined;
    assert.ok(issued, 'the provider issued a refresh token');

    await redis.start();
    clock.advance(301_000); // past the access token's life: the next request refreshes
    let refreshed = await apiCall(stack.url, jar.header());
    for (let i = 0; i < 100 && refreshed.status === 503; i++) {
      await sleep(50);
      refreshed = await apiCall(stack.url, jar.header());
    }
    assert.equal(refreshed.status, 200, refreshed.body);
    assert.equal(stack.refusedRefreshGrants(), 0, 'the shared grant lives on');
    // No session holds the unsaved login's refresh token: it lapses by its own lifetime.
    const client = await discoverClient(stack.auth, { clientId: stack.clientId, clientSecret: stack.clientSecret });
    assert.ok((await oidc.refreshTokenGrant(client, issued)).access_token);
  });
}

const navigate = (url: string, cookie: string) => rawRequest(`${url}/app/home`, { headers: { cookie, 'sec-fetch-mode': 'navigate', accept: 'text/html' } });

/** The session ended because the provider refused its refresh: 401 on the API route, the login redirect for a page; cookies cleared either way. */
function assertEndedByRefusal(r: RawResponse, page: boolean): void {
  if (page) {
    assert.equal(r.status, 302, r.body);
    assert.equal(r.headers.location, `/auth/login?return_to=${encodeURIComponent('/app/home')}`);
  } else {
    assert.equal(r.status, 401, r.body);
    assert.equal(r.json().code, 'GH_SESSION_EXPIRED');
  }
  assert.ok(r.setCookies.length > 0 && r.setCookies.every((c) => /Max-Age=0/.test(c)), 'cookies cleared');
}

test('stateless: the provider refuses a replayed refresh token (the cookie\'s, rotated elsewhere) → 401 GH_SESSION_EXPIRED, or the login redirect for a page', async (t) => {
  const clock = offsetClock();
  const stack = await startSessionStack({ mode: 'stateless', now: clock.now });
  t.after(() => stack.close());
  const client = await discoverClient(stack.auth, { clientId: stack.clientId, clientSecret: stack.clientSecret });
  for (const page of [false, true]) {
    const { jar } = await stack.login();
    const c0 = jar.header();
    // Rotated behind the gateway's back: no refresh result leads from C0's refresh token to the new one.
    await oidc.refreshTokenGrant(client, (await openStatelessSession(stack.keys, c0)).tokens.refreshToken as string);
    clock.advance(301_000);
    const grants = stack.refreshGrants();
    const r = page ? await navigate(stack.url, c0) : await apiCall(stack.url, c0);
    assert.equal(stack.refreshGrants(), grants + 1, 'the gateway asked the provider');
    assert.equal(stack.refusedRefreshGrants(), page ? 2 : 1, 'and the provider refused (invalid_grant)');
    assertEndedByRefusal(r, page);
  }
  const counted = await stack.metrics[0]?.sessionRefreshes.get();
  assert.equal(counted?.values.find((v) => v.labels.outcome === 'refused')?.value, 2);
});

/** A copy of `jar`: one more answer racing for the same browser. */
const copyJar = (jar: CookieJar) => {
  const copy = new CookieJar();
  for (const c of jar.header().split('; ').filter(Boolean)) copy.store(new Response(null, { headers: { 'set-cookie': `${c}; Path=/` } }));
  return copy;
};

/** The tokens of the stateless session in `jar`, and the clock time at which their refresh falls due (the skew is at most half the lifetime). */
async function statelessRefreshDue(stack: SessionStack, jar: CookieJar): Promise<{ t1: SessionTokens; dueAtMs: number }> {
  const t1 = (await openStatelessSession(stack.keys, jar.header())).tokens;
  const dueAtMs = (t1.accessTokenExpiresAt - Math.min(30, (t1.accessTokenExpiresAt - (t1.accessTokenIssuedAt as number)) / 2)) * 1000;
  return { t1, dueAtMs };
}

test('stateless: a touch-only re-seal of the old cookie reaching the browser after a concurrent refresh\'s answer → the next request, minutes later, adopts the rotated tokens; the provider never sees the consumed refresh token', async (t) => {
  const clock = offsetClock();
  const stack = await startSessionStack({ mode: 'stateless', now: clock.now });
  t.after(() => stack.close());
  const { jar } = await stack.login();
  const { t1, dueAtMs } = await statelessRefreshDue(stack, jar);
  // Two requests of one page with cookie C1. Y, just before the token is due, only touches the session (C1': the old tokens).
  clock.advance(dueAtMs - 50 - clock.now());
  const y = await apiCall(stack.url, jar.header());
  assert.equal(y.status, 200);
  // X, just after, refreshes (C2).
  clock.advance(100);
  const x = await apiCall(stack.url, jar.header());
  assert.equal(x.status, 200);
  const other = copyJar(jar);
  for (const c of x.setCookies) other.store(new Response(null, { headers: { 'set-cookie': c } }));
  assert.notEqual((await openStatelessSession(stack.keys, other.header())).tokens.refreshToken, t1.refreshToken, 'X rotated the refresh token');
  // Y's answer lands last: the browser keeps C1'.
  for (const c of [...x.setCookies, ...y.setCookies]) jar.store(new Response(null, { headers: { 'set-cookie': c } }));
  assert.equal((await openStatelessSession(stack.keys, jar.header())).tokens.refreshToken, t1.refreshToken, 'the browser holds the old refresh token');

  clock.advance(6 * 60_000); // a pause well inside the idle timeout, longer than refresh results used to be kept
  const grants = stack.refreshGrants();
  const later = await apiCall(stack.url, jar.header());
  assert.equal(later.status, 200, later.body);
  assert.equal(stack.refusedRefreshGrants(), 0, 'the consumed refresh token was never replayed');
  assert.equal(stack.refreshGrants(), grants + 1, 'one refresh, from the rotated token');
  assert.equal((await apiCall(stack.url, other.header())).status, 200, 'the grant lives: a copy holding C2 still works');
});

test('stateless: a touch judged after another instance refreshed the session (its clock a little behind, the token not yet due there) re-seals the rotated tokens, not the cookie\'s', async (t) => {
  const clock = offsetClock();
  const stack = await startSessionStack({ mode: 'stateless', now: clock.now });
  t.after(() => stack.close());
  const { jar } = await stack.login();
  const { t1, dueAtMs } = await statelessRefreshDue(stack, jar);
  clock.advance(dueAtMs + 50 - clock.now());
  const x = await apiCall(stack.url, jar.header());
  const c2 = copyJar(jar);
  for (const c of x.setCookies) c2.store(new Response(null, { headers: { 'set-cookie': c } }));
  const rotated = (await openStatelessSession(stack.keys, c2.header())).tokens.refreshToken;
  assert.notEqual(rotated, t1.refreshToken);
  clock.advance(-100); // the instance judging Y: 50 ms before the token is due, a touch due
  const y = await apiCall(stack.url, jar.header());
  assert.equal(y.status, 200);
  assert.ok(y.setCookies.length > 0, 'touched: re-sealed');
  for (const c of y.setCookies) jar.store(new Response(null, { headers: { 'set-cookie': c } }));
  assert.equal((await openStatelessSession(stack.keys, jar.header())).tokens.refreshToken, rotated, 'Y\'s cookie carries the rotated refresh token');
  assert.equal(y.json<Echo>().authorization, `Bearer ${(await openStatelessSession(stack.keys, c2.header())).tokens.accessToken}`, 'and forwards the new access token');
});

test('stateful: a refresh token revoked at the provider → the next refresh is refused: 401 GH_SESSION_EXPIRED, or the login redirect for a page', async (t) => {
  const clock = offsetClock();
  const prefixRevoked = randomPrefix('e2e');
  t.after(() => deletePrefix(REDIS_URL, prefixRevoked));
  const stack = await startSessionStack({ mode: 'stateful', now: clock.now, store: { kind: 'redis', url: REDIS_URL, prefix: prefixRevoked } });
  t.after(() => stack.close());
  const store = RedisSessionStore.open(REDIS_URL, { prefix: prefixRevoked });
  t.after(() => store.close());
  const client = await discoverClient(stack.auth, { clientId: stack.clientId, clientSecret: stack.clientSecret });
  for (const page of [false, true]) {
    const { jar } = await stack.login();
    const refreshToken = (await readStatefulSession(stack.keys, store, jar.header()))?.tokens.refreshToken;
    assert.ok(refreshToken);
    await oidc.tokenRevocation(client, refreshToken, { token_type_hint: 'refresh_token' });
    assert.equal((await apiCall(stack.url, jar.header())).status, 200, 'the access token still works until it expires');
    clock.advance(301_000);
    const r = page ? await navigate(stack.url, jar.header()) : await apiCall(stack.url, jar.header());
    assert.equal(stack.refusedRefreshGrants(), page ? 2 : 1, 'the provider refused the refresh (invalid_grant)');
    assertEndedByRefusal(r, page);
    assert.equal(await readStatefulSession(stack.keys, store, jar.header()), undefined, 'the session is gone from the store');
    assert.equal((await apiCall(stack.url, jar.header())).status, 401);
  }
});

for (const mode of ['stateful', 'stateless'] as const) {
  test(`${mode}: Redis dies right after the provider rotated the refresh token → 503; once it is back the session works on the rotated tokens, and the old refresh token is never replayed`, async (t) => {
    const clock = offsetClock();
    const redis = await DisposableRedis.start();
    t.after(() => redis.dispose());
    // A short lock: the one held during the failed refresh cannot be released while Redis is down.
    const stack = await startSessionStack({ mode, now: clock.now, store: { kind: 'redis', url: redis.url, prefix: 'gh:' }, sessions: { refreshLock: { ttlMs: 2500, waitMs: 500 } } });
    t.after(() => stack.close());
    const { jar } = await stack.login();
    assert.equal((await apiCall(stack.url, jar.header())).status, 200);
    // The provider has rotated and answered; the gateway gets the new tokens but no store to write them to.
    let crashed = false;
    stack.auth.service.provider.on('grant.success', (ctx: { oidc?: { params?: { grant_type?: unknown } } }) => {
      if (crashed || ctx.oidc?.params?.grant_type !== 'refresh_token') return;
      crashed = true;
      redis.crash();
    });
    clock.advance(301_000);
    const down = await apiCall(stack.url, jar.header());
    assert.ok(crashed);
    assert.equal(down.status, 503, down.body);
    assert.equal(down.json().code, 'GH_SESSION_STORE_UNAVAILABLE');
    assert.ok(!down.setCookies.some((c) => /Max-Age=0/.test(c)), 'cookies kept');
    assert.equal(stack.refreshGrants(), 1);

    await redis.start();
    let back = await apiCall(stack.url, jar.header());
    for (let i = 0; i < 100 && back.status === 503; i++) {
      await new Promise((r) => setTimeout(r, 100));
      back = await apiCall(stack.url, jar.header());
    }
    assert.equal(back.status, 200, back.body);
    assert.equal(stack.refusedRefreshGrants(), 0, 'no invalid_grant: the old refresh token was not replayed');
    assert.equal(stack.refreshGrants(), 1, 'the rotation the provider made is the one in use');
    for (const c of back.setCookies) jar.store(new Response(null, { headers: { 'set-cookie': c } }));
    // The rotated refresh token reached the store (or the cookie) and works.
    clock.advance(301_000);
    const later = await apiCall(stack.url, jar.header());
    assert.equal(later.status, 200, later.body);
    assert.equal(stack.refreshGrants(), 2);
    assert.equal(stack.refusedRefreshGrants(), 0);
  });
}

for (const mode of ['stateful', 'stateless'] as const) {
  test(`${mode}: POST /auth/refresh with an expired access token refreshes first: a new token, one refresh grant at the provider`, async (t) => {
    const clock = offsetClock();
    const stack = await startSessionStack({ mode, now: clock.now });
    t.after(() => stack.close());
    const { jar } = await stack.login();
    const tokenNow = () => rawRequest(`${stack.url}/auth/refresh`, { method: 'POST', headers: { cookie: jar.header(), origin: stack.url } });
    const before = await tokenNow();
    assert.equal(before.status, 200);
    assert.equal(stack.refreshGrants(), 0, 'a fresh token is handed out as it is');
    clock.advance(301_000);
    const after = await tokenNow();
    assert.equal(after.status, 200, after.body);
    const t0 = before.json<{ access_token: string }>().access_token;
    const t1 = after.json<{ access_token: string; expires_in: number }>();
    assert.notEqual(t1.access_token, t0);
    assert.ok(t1.expires_in > 60, `expires_in ${t1.expires_in}`);
    assert.equal(stack.refreshGrants(), 1);
    if (mode === 'stateless') assert.ok(after.setCookies.some((c) => c.startsWith('__Host-gh_s.0=')), 'the re-sealed session goes back');
    for (const c of after.setCookies) jar.store(new Response(null, { headers: { 'set-cookie': c } }));
    const call = await apiCall(stack.url, jar.header());
    assert.equal(call.json<Echo>().authorization, `Bearer ${t1.access_token}`, 'the API route forwards the same new token');
    assert.equal(stack.refreshGrants(), 1);
  });
}
