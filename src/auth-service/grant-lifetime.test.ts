import assert from 'node:assert/strict';
import { DatabaseSync } from 'node:sqlite';
import { test } from 'node:test';
import * as oidc from 'openid-client';
import { CookieJar, discoverClient, obtainTokensWithLogin, startTestAuthService, TEST_REDIRECT_URI } from '../../test/helpers/auth-service.js';
import { offsetClock } from '../../test/helpers/clock.js';
import { hashPassword } from './accounts/password.js';

test('a new sign-in extends the grant it reuses: its refresh token outlives the grant\'s first expiry', async (t) => {
  const clock = offsetClock();
  const auth = await startTestAuthService({ now: clock.now, overrides: { ttl: { refreshTokenIdle: 600, refreshTokenAbsolute: 1000, grant: 1000 } } });
  t.after(() => auth.close());
  const config = await discoverClient(auth, auth.clients.opaqueWeb);
  const jar = new CookieJar();
  await obtainTokensWithLogin(auth, auth.clients.opaqueWeb, { scope: 'openid offline_access api:read', jar });
  clock.advance(900_000);
  // The browser session is still signed in: the same grant is used again.
  const second = await obtainTokensWithLogin(auth, auth.clients.opaqueWeb, { scope: 'openid offline_access api:read', jar });
  // 1100 s: the grant as first issued ended at 1000 s; the second refresh token lives to 900 + 600 s.
  clock.advance(200_000);
  const refreshed = await oidc.refreshTokenGrant(config, second.refresh_token as string);
  assert.ok(refreshed.access_token);
  // And no further than that: refresh tokens still end with their own lifetime.
  clock.advance(601_000);
  await assert.rejects(oidc.refreshTokenGrant(config, refreshed.refresh_token as string), (err: oidc.ResponseBodyError) => err.error === 'invalid_grant');
});

test('an authorization request that ends without a sign-in leaves the grant\'s end where it was', async (t) => {
  const clock = offsetClock();
  const auth = await startTestAuthService({ now: clock.now, overrides: { ttl: { refreshTokenIdle: 600, refreshTokenAbsolute: 1000, grant: 1000 } } });
  t.after(() => auth.close());
  const grantEnds = (): number[] => {
    const db = new DatabaseSync(auth.config.store.kind === 'sqlite' ? auth.config.store.path : '', { readOnly: true });
    try {
      return db.prepare("SELECT expires_at FROM oidc_models WHERE model = 'Grant'").all().map((r) => Number(r.expires_at));
    } finally {
      db.close();
    }
  };
  const jar = new CookieJar();
  await obtainTokensWithLogin(auth, auth.clients.opaqueWeb, { scope: 'openid offline_access api:read', jar });
  const before = grantEnds();
  assert.equal(before.length, 1);
  // The password is reset (in a later whole second than the sign-in): the browser session can no longer sign in without the form.
  await new Promise((resolve) => setTimeout(resolve, 1020 - (Date.now() % 1000)));
  await auth.service.accounts.setPassword(auth.user.username, await hashPassword(`new-${auth.user.password}`));
  clock.advance(900_000);
  const config = await discoverClient(auth, auth.clients.opaqueWeb);
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: TEST_REDIRECT_URI,
    scope: 'openid api:read',
    prompt: 'none',
    code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()),
    code_challenge_method: 'S256',
  });
  const res = await fetch(url, { redirect: 'manual', headers: { cookie: jar.header() } });
  await res.arrayBuffer();
  assert.equal(new URL(res.headers.get('location') as string).searchParams.get('error'), 'interaction_required');
  assert.deepEqual(grantEnds(), before, 'a refused prompt=none signs nobody in and extends nothing');
});

for (const store of ['sqlite', 'redis'] as const) {
  test(`${store}: a refresh token outlives the browser session at the service: it refreshes after ttl.session, as the gateway asks for it (no prompt=consent)`, async (t) => {
    const clock = offsetClock();
    const auth = await startTestAuthService({ store, now: clock.now, overrides: { ttl: { session: 3600, refreshTokenIdle: 86400, refreshTokenAbsolute: 172800 } } });
    t.after(() => auth.close());
    const config = await discoverClient(auth, auth.clients.opaqueWeb);
    const tokens = await obtainTokensWithLogin(auth, auth.clients.opaqueWeb, { scope: 'openid offline_access api:read' });
    const own = await oidc.tokenIntrospection(config, tokens.refresh_token as string);
    assert.equal((own.exp as number) - (own.iat as number), 86400);
    // Two hours: the session at the service has expired, the refresh token's idle window has not.
    clock.advance(7_200_000);
    assert.equal((await oidc.tokenIntrospection(config, tokens.refresh_token as string)).active, true, 'introspection tells its true end');
    const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token as string);
    assert.ok(refreshed.access_token);
  });
}

/** Signs the browser session in `jar` out at the service: the confirmation page, then its form. */
async function signOutAtService(issuer: string, jar: CookieJar, choice: 'yes' | 'no', params: Record<string, string> = {}): Promise<void> {
  const page = await fetch(`${issuer}/session/end?${new URLSearchParams(params)}`, { headers: { cookie: jar.header() } });
  jar.store(page);
  const html = await page.text();
  const xsrf = /name="xsrf" value="([^"]+)"/.exec(html)?.[1];
  assert.ok(xsrf, 'the confirmation page has its form');
  const res = await fetch(`${issuer}/session/end/confirm`, {
    method: 'POST',
    redirect: 'manual',
    headers: { cookie: jar.header(), 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ xsrf, ...(choice === 'yes' ? { logout: 'yes' } : {}) }),
  });
  jar.store(res);
  await res.text();
  assert.equal(res.status, 303);
}

test('signing out at the service revokes the grants its browser session signed in to; "stay signed in" revokes only the asking client\'s', async (t) => {
  const auth = await startTestAuthService();
  t.after(() => auth.close());
  const isInvalidGrant = (err: oidc.ResponseBodyError) => err.error === 'invalid_grant';
  const opaqueWeb = await discoverClient(auth, auth.clients.opaqueWeb);
  const web = await discoverClient(auth, auth.clients.web);

  const jar = new CookieJar();
  const a = await obtainTokensWithLogin(auth, auth.clients.opaqueWeb, { scope: 'openid offline_access api:read', jar });
  const b = await obtainTokensWithLogin(auth, auth.clients.web, { scope: 'openid offline_access api:read', jar });
  await signOutAtService(auth.issuer, jar, 'yes');
  await assert.rejects(oidc.refreshTokenGrant(opaqueWeb, a.refresh_token as string), isInvalidGrant);
  await assert.rejects(oidc.refreshTokenGrant(web, b.refresh_token as string), isInvalidGrant);

  // RP-initiated logout of one client, the user staying signed in at the service: that client's grant goes, the other's stays.
  const jar2 = new CookieJar();
  const c = await obtainTokensWithLogin(auth, auth.clients.opaqueWeb, { scope: 'openid offline_access api:read', jar: jar2 });
  const d = await obtainTokensWithLogin(auth, auth.clients.web, { scope: 'openid offline_access api:read', jar: jar2 });
  await signOutAtService(auth.issuer, jar2, 'no', { client_id: auth.clients.web.clientId });
  await assert.rejects(oidc.refreshTokenGrant(web, d.refresh_token as string), isInvalidGrant);
  assert.ok((await oidc.refreshTokenGrant(opaqueWeb, c.refresh_token as string)).access_token);
});
