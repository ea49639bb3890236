import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as oidc from 'openid-client';
import { CookieJar, discoverClient, obtainTokensWithLogin, startTestAuthService, TEST_REDIRECT_URI } from '../../test/helpers/auth-service.js';
import { hashPassword } from './accounts/password.js';

test('a browser still signed in as a removed account gets the login form, not an error; signing in again works', async (t) => {
  const auth = await startTestAuthService();
  t.after(() => auth.close());
  const serverErrors: string[] = [];
  auth.service.on('server_error', (_ctx, err) => serverErrors.push((err as Error).message));
  const jar = new CookieJar();
  await obtainTokensWithLogin(auth, auth.clients.web, { scope: 'openid api:read', jar });

  assert.equal(await auth.service.accounts.remove(auth.user.username), true);
  const config = await discoverClient(auth, auth.clients.web);
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: TEST_REDIRECT_URI,
    scope: 'openid api:read',
    code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()),
    code_challenge_method: 'S256',
  });
  const res = await fetch(url, { redirect: 'manual', headers: { cookie: jar.header() } });
  jar.store(res);
  await res.text();
  assert.equal(res.status, 303);
  const page = new URL(res.headers.get('location') as string, auth.issuer);
  assert.match(page.pathname, /^\/interaction\/[A-Za-z0-9_-]+$/);
  const form = await fetch(page, { headers: { cookie: jar.header() } });
  assert.equal(form.status, 200);
  assert.match(await form.text(), /name="password"/);
  assert.deepEqual(serverErrors, []);

  // The name is given to a new account: the same browser signs in as it.
  const account = await auth.service.accounts.add(auth.user.username, await hashPassword(auth.user.password));
  const tokens = await obtainTokensWithLogin(auth, auth.clients.web, { scope: 'openid api:read', jar });
  assert.equal(tokens.claims()?.sub, account.id);
  assert.notEqual(account.id, auth.user.id);
  assert.deepEqual(serverErrors, []);
});

test('removing an account ends its tokens at introspection: opaque access tokens and refresh tokens inactive, also once the name is given to a new account', async (t) => {
  const auth = await startTestAuthService();
  t.after(() => auth.close());
  const config = await discoverClient(auth, auth.clients.opaqueWeb);
  const gw = await discoverClient(auth, auth.clients.gateway);
  const tokens = await obtainTokensWithLogin(auth, auth.clients.opaqueWeb, { scope: 'openid offline_access api:read' });
  assert.equal((await oidc.tokenIntrospection(gw, tokens.access_token)).active, true);

  assert.equal(await auth.service.accounts.remove(auth.user.username), true);
  assert.deepEqual(await oidc.tokenIntrospection(gw, tokens.access_token), { active: false });
  assert.deepEqual(await oidc.tokenIntrospection(config, tokens.refresh_token as string), { active: false });
  await assert.rejects(oidc.refreshTokenGrant(config, tokens.refresh_token as string), (err: oidc.ResponseBodyError) => err.error === 'invalid_grant');

  await auth.service.accounts.add(auth.user.username, await hashPassword(auth.user.password));
  assert.equal((await oidc.tokenIntrospection(gw, tokens.access_token)).active, false);
  assert.equal((await oidc.tokenIntrospection(config, tokens.refresh_token as string)).active, false);
});
