import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as oidc from 'openid-client';
import { decodeJwt, decodeProtectedHeader, createRemoteJWKSet, jwtVerify } from 'jose';
import { CookieJar, discoverClient, obtainTokensWithLogin, startTestAuthService, TEST_API, TEST_OPAQUE_API, type TestAuthService } from '../../test/helpers/auth-service.js';

let auth: TestAuthService;
before(async () => {
  auth = await startTestAuthService();
});
after(() => auth.close());

test('discovery: OpenID and RFC 8414 metadata name the same endpoints', async () => {
  const oidcMeta = (await (await fetch(`${auth.issuer}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
  const res = await fetch(`${auth.issuer}/.well-known/oauth-authorization-server`);
  assert.equal(res.status, 200);
  const asMeta = (await res.json()) as Record<string, unknown>;
  assert.equal(asMeta.issuer, auth.issuer);
  assert.deepEqual(asMeta, oidcMeta);
  assert.deepEqual(asMeta.response_types_supported, ['code']);
  assert.deepEqual(asMeta.code_challenge_methods_supported, ['S256']);
  for (const k of ['token_endpoint', 'jwks_uri', 'introspection_endpoint', 'revocation_endpoint', 'userinfo_endpoint', 'end_session_endpoint']) {
    assert.equal(typeof asMeta[k], 'string', k);
  }
  assert.ok((asMeta.grant_types_supported as string[]).includes('client_credentials'));
  assert.ok(!(asMeta.grant_types_supported as string[]).includes('implicit'));
});

test('client credentials: RFC 9068 JWT for a JWT resource, verifiable with the JWKS', async () => {
  const config = await discoverClient(auth, auth.clients.service);
  const tokens = await oidc.clientCredentialsGrant(config, { scope: 'api:read', resource: TEST_API });
  assert.equal(tokens.token_type.toLowerCase(), 'bearer');
  assert.equal(tokens.expires_in, 300);
  const header = decodeProtectedHeader(tokens.access_token);
  assert.equal(header.typ, 'at+jwt');
  assert.equal(header.alg, 'ES256');
  const jwks = createRemoteJWKSet(new URL(config.serverMetadata().jwks_uri as string));
  const { payload } = await jwtVerify(tokens.access_token, jwks, { issuer: auth.issuer, audience: TEST_API, typ: 'at+jwt' });
  assert.equal(payload.client_id, auth.clients.service.clientId);
  assert.equal(payload.sub, auth.clients.service.clientId);
  assert.equal(payload.scope, 'api:read');
  assert.equal(typeof payload.jti, 'string');
  assert.equal((payload.exp as number) - (payload.iat as number), 300);
});

test('DPoP is off: discovery advertises none, and a request with a DPoP proof gets a plain bearer token, bound to nothing', async () => {
  const meta = (await (await fetch(`${auth.issuer}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
  assert.equal(meta.dpop_signing_alg_values_supported, undefined);
  const config = await discoverClient(auth, auth.clients.service);
  // The gateway and the kit check no proof of possession: a key-bound token would be taken as a bearer token.
  const DPoP = oidc.getDPoPHandle(config, await oidc.randomDPoPKeyPair());
  const tokens = await oidc.clientCredentialsGrant(config, { scope: 'api:read', resource: TEST_API }, { DPoP });
  assert.equal(tokens.token_type.toLowerCase(), 'bearer');
  assert.equal(decodeJwt(tokens.access_token).cnf, undefined);
});

test('client credentials: opaque token for an opaque resource, active at introspection', async () => {
  const config = await discoverClient(auth, auth.clients.opaqueService);
  const tokens = await oidc.clientCredentialsGrant(config, { scope: 'api:read' });
  assert.equal(tokens.access_token.split('.').length, 1);
  const gw = await discoverClient(auth, auth.clients.gateway);
  const info = await oidc.tokenIntrospection(gw, tokens.access_token);
  assert.equal(info.active, true);
  assert.equal(info.client_id, auth.clients.opaqueService.clientId);
  assert.equal(info.aud, TEST_OPAQUE_API);
  assert.equal(info.scope, 'api:read');
});

test('revocation: only the client a token was issued to may revoke it (RFC 7009 §2.1)', async () => {
  const owner = await discoverClient(auth, auth.clients.opaqueService);
  const tokens = await oidc.clientCredentialsGrant(owner, { scope: 'api:read' });
  const gw = await discoverClient(auth, auth.clients.gateway);
  await oidc.tokenRevocation(gw, tokens.access_token);
  assert.equal((await oidc.tokenIntrospection(gw, tokens.access_token)).active, true, 'a foreign client revoked nothing');
  await oidc.tokenRevocation(owner, tokens.access_token);
  assert.equal((await oidc.tokenIntrospection(gw, tokens.access_token)).active, false);
});

test('revocation: another client\'s live refresh token gets the answer an unknown token gets, and stays live (RFC 7009 §2.2)', async () => {
  const tokens = await obtainTokensWithLogin(auth, auth.clients.opaqueWeb, { scope: 'openid offline_access api:read' });
  const { clientId, clientSecret } = auth.clients.gateway;
  const revoke = async (token: string) => {
    const res = await fetch(`${auth.issuer}/token/revocation`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token }),
    });
    return { status: res.status, body: await res.text() };
  };
  const foreign = await revoke(tokens.refresh_token as string);
  assert.deepEqual(foreign, await revoke('A'.repeat(43)));
  assert.deepEqual(foreign, { status: 200, body: '' });
  const owner = await discoverClient(auth, auth.clients.opaqueWeb);
  assert.equal((await oidc.tokenIntrospection(owner, tokens.refresh_token as string)).active, true);
});

test('authorization code + PKCE through the login form; refresh rotates; reuse revokes the grant', async () => {
  const tokens = await obtainTokensWithLogin(auth, auth.clients.opaqueWeb, { scope: 'openid offline_access api:read' });
  assert.ok(tokens.refresh_token);
  assert.equal(tokens.claims()?.sub, auth.user.id);
  const config = await discoverClient(auth, auth.clients.opaqueWeb);
  const gw = await discoverClient(auth, auth.clients.gateway);
  assert.equal((await oidc.tokenIntrospection(gw, tokens.access_token)).active, true);

  const second = await oidc.refreshTokenGrant(config, tokens.refresh_token as string);
  assert.notEqual(second.refresh_token, tokens.refresh_token);
  assert.equal((await oidc.tokenIntrospection(gw, second.access_token)).active, true);

  // Replaying the first refresh token: invalid_grant, and every token of the grant dies.
  await assert.rejects(oidc.refreshTokenGrant(config, tokens.refresh_token as string), (err: oidc.ResponseBodyError) => {
    assert.equal(err.error, 'invalid_grant');
    assert.equal(err.status, 400);
    return true;
  });
  assert.equal((await oidc.tokenIntrospection(gw, second.access_token)).active, false);
  assert.equal((await oidc.tokenIntrospection(gw, tokens.access_token)).active, false);
  await assert.rejects(oidc.refreshTokenGrant(config, second.refresh_token as string), (err: oidc.ResponseBodyError) => err.error === 'invalid_grant');
});

test('code flow for a JWT resource: access token is an RFC 9068 JWT for the user', async () => {
  const tokens = await obtainTokensWithLogin(auth, auth.clients.web, { scope: 'openid offline_access api:read' });
  const claims = decodeJwt(tokens.access_token);
  assert.equal(claims.sub, auth.user.id);
  assert.equal(claims.aud, TEST_API);
  assert.equal(claims.client_id, auth.clients.web.clientId);
  assert.equal(claims.scope, 'api:read');
});

test('claims parameter: sid in the ID token when asked for, one per browser session (one grant), kept across refresh; any other claim asked for by name is left out, not refused', async () => {
  const meta = (await (await fetch(`${auth.issuer}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
  assert.equal(meta.claims_parameter_supported, true);
  const scope = 'openid offline_access api:read';
  const claims = JSON.stringify({ id_token: { sid: null } });
  const browser = new CookieJar();
  const first = await obtainTokensWithLogin(auth, auth.clients.web, { scope, claims, jar: browser });
  const again = await obtainTokensWithLogin(auth, auth.clients.web, { scope, claims, jar: browser });
  const elsewhere = await obtainTokensWithLogin(auth, auth.clients.web, { scope, claims });
  const sid = first.claims()?.sid;
  assert.equal(typeof sid, 'string');
  assert.equal(again.claims()?.sid, sid, 'the same browser session');
  assert.notEqual(elsewhere.claims()?.sid, sid, 'another browser session');
  const refreshed = await oidc.refreshTokenGrant(await discoverClient(auth, auth.clients.web), first.refresh_token as string);
  assert.equal(refreshed.claims()?.sid, sid);
  assert.equal((await obtainTokensWithLogin(auth, auth.clients.web, { scope })).claims()?.sid, undefined, 'not asked for, not sent');

  // The consent page lists scopes only: a user claim by name would bypass the client's scopes. It is
  // left out (OIDC Core §5.5), and a client that asks for more than sid still signs in.
  const cases = [
    { asked: { id_token: { preferred_username: { essential: true } } }, sid: false },
    { asked: { userinfo: { preferred_username: null, sid: null } }, sid: false },
    { asked: { id_token: { sid: null, preferred_username: null, auth_time: { essential: true } } }, sid: true },
  ];
  for (const { asked, sid: wantsSid } of cases) {
    const tokens = await obtainTokensWithLogin(auth, auth.clients.web, { scope, claims: JSON.stringify(asked) });
    const idClaims: Record<string, unknown> = tokens.claims() ?? {};
    assert.equal(idClaims.preferred_username, undefined, JSON.stringify(asked));
    assert.equal(typeof idClaims.sid === 'string', wantsSid, JSON.stringify(asked));
  }
});
