import assert from 'node:assert/strict';
import { after, afterEach, before, test } from 'node:test';
import * as oidc from 'openid-client';
import { CookieJar, discoverClient, loginWithForm, obtainTokensWithLogin, startTestAuthService, TEST_REDIRECT_URI, type TestAuthService } from '../../test/helpers/auth-service.js';
import { offsetClock } from '../../test/helpers/clock.js';
import { hashPassword } from './accounts/password.js';

const clock = offsetClock();
let auth: TestAuthService;
before(async () => {
  auth = await startTestAuthService({ now: clock.now, overrides: { ttl: { refreshTokenIdle: 100, refreshTokenAbsolute: 150 } } });
});
after(() => auth.close());
// Each test starts on real time: a test that moved the clock leaves the next one nothing to assume.
afterEach(() => clock.reset());

const isInvalidGrant = (err: oidc.ResponseBodyError) => err.error === 'invalid_grant' && err.status === 400;

async function login() {
  const tokens = await obtainTokensWithLogin(auth, auth.clients.opaqueWeb, { scope: 'openid offline_access api:read' });
  return { tokens, config: await discoverClient(auth, auth.clients.opaqueWeb), gw: await discoverClient(auth, auth.clients.gateway) };
}

test('introspection: a refresh token only by its own client; access tokens by any confidential client', async () => {
  const { tokens, config, gw } = await login();
  assert.equal((await oidc.tokenIntrospection(gw, tokens.refresh_token as string)).active, false, 'another client sees nothing of it');
  const own = await oidc.tokenIntrospection(config, tokens.refresh_token as string);
  assert.equal(own.active, true);
  assert.equal(own.client_id, auth.clients.opaqueWeb.clientId);
  assert.equal((await oidc.tokenIntrospection(gw, tokens.access_token)).active, true, 'the resource server reads access tokens');
});

test('revoking an access token: introspection then says inactive, and the tokens of its grant go with it (RFC 7009 §2.1)', async () => {
  const { tokens, config, gw } = await login();
  assert.equal((await oidc.tokenIntrospection(gw, tokens.access_token)).active, true);
  await oidc.tokenRevocation(config, tokens.access_token);
  assert.equal((await oidc.tokenIntrospection(gw, tokens.access_token)).active, false);
  assert.equal((await oidc.tokenIntrospection(config, tokens.refresh_token as string)).active, false);
  await assert.rejects(oidc.refreshTokenGrant(config, tokens.refresh_token as string), isInvalidGrant);
  // Revoking an unknown token is not an error (RFC 7009 §2.2).
  await oidc.tokenRevocation(config, 'never-issued');
});

test('revoking a refresh token revokes its grant: its access tokens go inactive', async () => {
  const { tokens, config, gw } = await login();
  await oidc.tokenRevocation(config, tokens.refresh_token as string);
  assert.equal((await oidc.tokenIntrospection(gw, tokens.access_token)).active, false);
  await assert.rejects(oidc.refreshTokenGrant(config, tokens.refresh_token as string), isInvalidGrant);
});

test('idle lifetime: a refresh token unused longer than refreshTokenIdle is refused', async () => {
  const { tokens, config } = await login();
  clock.advance(101_000);
  await assert.rejects(oidc.refreshTokenGrant(config, tokens.refresh_token as string), isInvalidGrant);
});

test('absolute lifetime: rotation cannot extend a grant past refreshTokenAbsolute', async () => {
  const { tokens, config } = await login();
  clock.advance(90_000);
  const second = await oidc.refreshTokenGrant(config, tokens.refresh_token as string);
  // 90 s in, with a 150 s absolute cap: the rotated token lives 60 s, not the 100 s idle window.
  clock.advance(50_000);
  const third = await oidc.refreshTokenGrant(config, second.refresh_token as string);
  clock.advance(11_000);
  await assert.rejects(oidc.refreshTokenGrant(config, third.refresh_token as string), isInvalidGrant);
});

test('refresh response: rotated refresh token, new access token, scope kept', async () => {
  const { tokens, config } = await login();
  const next = await oidc.refreshTokenGrant(config, tokens.refresh_token as string);
  assert.notEqual(next.refresh_token, tokens.refresh_token);
  assert.notEqual(next.access_token, tokens.access_token);
  assert.equal(next.scope, 'api:read');
  assert.equal(next.expires_in, 300);
});

test('end-session endpoint answers', async () => {
  const res = await fetch(`${auth.issuer}/session/end`);
  assert.equal(res.status, 200);
  await res.text();
});

test('two concurrent uses of one refresh token: one answer at most, and the grant ends', async () => {
  const { tokens, config, gw } = await login();
  const results = await Promise.allSettled([
    oidc.refreshTokenGrant(config, tokens.refresh_token as string),
    oidc.refreshTokenGrant(config, tokens.refresh_token as string),
  ]);
  const rejected = results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
  assert.ok(rejected.length >= 1, 'a concurrent reuse is detected');
  for (const r of rejected) assert.equal((r.reason as oidc.ResponseBodyError).error, 'invalid_grant');
  for (const r of results) {
    if (r.status !== 'fulfilled') continue;
    // Whatever the winner got belongs to a revoked grant.
    assert.equal((await oidc.tokenIntrospection(gw, r.value.access_token)).active, false);
    await assert.rejects(oidc.refreshTokenGrant(config, r.value.refresh_token as string), isInvalidGrant);
  }
});

test('a new password ends earlier sign-ins: their refresh tokens get invalid_grant, their browser session must sign in again; a new sign-in works', async () => {
  const jar = new CookieJar();
  const tokens = await obtainTokensWithLogin(auth, auth.clients.opaqueWeb, { scope: 'openid offline_access api:read', jar });
  const config = await discoverClient(auth, auth.clients.opaqueWeb);
  const rotated = await oidc.refreshTokenGrant(config, tokens.refresh_token as string);
  // The session in the jar signs the user in without the form: a wrong password is never asked for.
  const authorize = () =>
    oidc.buildAuthorizationUrl(config, {
      redirect_uri: TEST_REDIRECT_URI,
      scope: 'openid api:read',
      code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
      code_challenge_method: 'S256',
    });
  const viaSession = await loginWithForm(authorize(), { username: auth.user.username, password: 'not-the-password', redirectUri: TEST_REDIRECT_URI, jar });
  assert.ok(viaSession.searchParams.get('code'));

  const newPassword = `new-${auth.user.password}`;
  // The reset falls in a later whole second than the sign-in (both are kept in seconds).
  await new Promise((resolve) => setTimeout(resolve, 1020 - (Date.now() % 1000)));
  try {
    assert.equal(await auth.service.accounts.setPassword(auth.user.username, await hashPassword(newPassword)), true);
    assert.equal((await oidc.tokenIntrospection(config, rotated.refresh_token as string)).active, false, 'introspection agrees: the refresh token is dead');
    await assert.rejects(oidc.refreshTokenGrant(config, rotated.refresh_token as string), isInvalidGrant);
    await assert.rejects(
      loginWithForm(authorize(), { username: auth.user.username, password: 'not-the-password', redirectUri: TEST_REDIRECT_URI, jar }),
      /HTTP 401/,
      'the old session no longer signs in: the form is shown and the wrong password refused',
    );
    const fresh = await loginWithForm(authorize(), { username: auth.user.username, password: newPassword, redirectUri: TEST_REDIRECT_URI, jar: new CookieJar() });
    assert.ok(fresh.searchParams.get('code'));
    const again = await obtainTokensWithLogin(
      { ...auth, user: { ...auth.user, password: newPassword } },
      auth.clients.opaqueWeb,
      { scope: 'openid offline_access api:read' },
    );
    assert.ok((await oidc.refreshTokenGrant(config, again.refresh_token as string)).access_token);
  } finally {
    await auth.service.accounts.setPassword(auth.user.username, await hashPassword(auth.user.password));
  }
});
