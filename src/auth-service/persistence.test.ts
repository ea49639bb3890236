import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as oidc from 'openid-client';
import { discoverClient, obtainTokensWithLogin, postAsClient, startTestAuthService } from '../../test/helpers/auth-service.js';
import { startAuthService } from './index.js';

// A restart loses no grant, no refresh token and no signing key, in both store modes.
for (const store of ['sqlite', 'redis'] as const) {
  test(`${store}: a refresh token issued before a restart works once after it; keys persist`, async (t) => {
    let auth = await startTestAuthService({ store });
    t.after(() => auth.close());
    const tokens = await obtainTokensWithLogin(auth, auth.clients.opaqueWeb, { scope: 'openid offline_access api:read' });
    const jwksBefore = await (await fetch(`${auth.issuer}/jwks`)).json();

    auth = await auth.restart();

    assert.deepEqual(await (await fetch(`${auth.issuer}/jwks`)).json(), jwksBefore, 'same signing keys');
    const gw = await discoverClient(auth, auth.clients.gateway);
    assert.equal((await oidc.tokenIntrospection(gw, tokens.access_token)).active, true, 'opaque access token survives');
    const config = await discoverClient(auth, auth.clients.opaqueWeb);
    const next = await oidc.refreshTokenGrant(config, tokens.refresh_token as string);
    assert.ok(next.refresh_token);
    assert.equal((await oidc.tokenIntrospection(gw, next.access_token)).active, true);
    // Once: the pre-restart token is now used, and presenting it again revokes the grant.
    await assert.rejects(oidc.refreshTokenGrant(config, tokens.refresh_token as string), (err: oidc.ResponseBodyError) => err.error === 'invalid_grant' && err.status === 400);
    assert.equal((await oidc.tokenIntrospection(gw, next.access_token)).active, false);
  });
}

test('redis: two instances share grants and signing keys (scale-out behind one issuer)', async (t) => {
  const auth = await startTestAuthService({ store: 'redis' });
  t.after(() => auth.close());
  const second = await startAuthService({ ...auth.config, listen: { host: '127.0.0.1', port: 0 } });
  t.after(() => second.close());
  assert.deepEqual(await (await fetch(`${second.url}/jwks`)).json(), await (await fetch(`${auth.issuer}/jwks`)).json());

  const tokens = await obtainTokensWithLogin(auth, auth.clients.opaqueWeb, { scope: 'openid offline_access api:read' });
  const post = (path: string, client: { clientId: string; clientSecret: string }, body: Record<string, string>) => postAsClient(second.url, path, client, body);

  const intro = await post('/token/introspection', auth.clients.gateway, { token: tokens.access_token });
  assert.equal(intro.body.active, true);
  const refreshed = await post('/token', auth.clients.opaqueWeb, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token as string });
  assert.equal(refreshed.status, 200);
  // Reuse at the first instance of a token rotated at the second: detected, grant revoked everywhere.
  const config = await discoverClient(auth, auth.clients.opaqueWeb);
  await assert.rejects(oidc.refreshTokenGrant(config, tokens.refresh_token as string), (err: oidc.ResponseBodyError) => err.error === 'invalid_grant');
  assert.equal((await post('/token/introspection', auth.clients.gateway, { token: refreshed.body.access_token as string })).body.active, false);
});

test('a users or store file that cannot be opened fails the start with its key and path', async (t) => {
  const auth = await startTestAuthService();
  t.after(() => auth.close());
  const at = (cfg: typeof auth.config) => ({ ...cfg, listen: { host: '127.0.0.1', port: 0 } });
  await assert.rejects(startAuthService(at({ ...auth.config, usersPath: '/dev/null/users.sqlite' })), /^Error: auth\.usersPath: cannot open the SQLite file \/dev\/null\/users\.sqlite: (EEXIST|ENOTDIR)/);
  assert.equal(auth.config.store.kind, 'sqlite');
  await assert.rejects(
    startAuthService(at({ ...auth.config, store: { kind: 'sqlite', path: '/dev/null/grants.sqlite' } })),
    /^Error: auth\.store\.path: cannot open the SQLite file \/dev\/null\/grants\.sqlite: (EEXIST|ENOTDIR)/,
  );
});
