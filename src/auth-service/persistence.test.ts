import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as oidc from 'openid-client';
import { discoverClient, obtainTokensWithLogin, startTestAuthService } from '../../test/helpers/auth-service.js';

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
