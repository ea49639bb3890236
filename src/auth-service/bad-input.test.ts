import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as oidc from 'openid-client';
import { CookieJar, discoverClient, loginWithForm, startTestAuthService, TEST_OPAQUE_API, TEST_REDIRECT_URI, type TestAuthService } from '../../test/helpers/auth-service.js';
import { offsetClock } from '../../test/helpers/clock.js';

// Every bad request gets its OAuth error and status; afterEach-style, each test ends by proving the service still serves.

const clock = offsetClock();
let auth: TestAuthService;
before(async () => {
  auth = await startTestAuthService({ now: clock.now });
});
after(() => auth.close());

const basic = (c: { clientId: string; clientSecret: string }) =>
  `Basic ${Buffer.from(`${encodeURIComponent(c.clientId)}:${encodeURIComponent(c.clientSecret)}`).toString('base64')}`;

async function tokenRequest(body: string, client: { clientId: string; clientSecret: string } = auth.clients.service, contentType = 'application/x-www-form-urlencoded') {
  const res = await fetch(`${auth.issuer}/token`, { method: 'POST', headers: { authorization: basic(client), 'content-type': contentType }, body });
  const text = await res.text();
  return { status: res.status, body: JSON.parse(text) as { error?: string; access_token?: string } };
}

async function assertStillServing(): Promise<void> {
  const r = await tokenRequest('grant_type=client_credentials&scope=api:read');
  assert.equal(r.status, 200);
  assert.equal(typeof r.body.access_token, 'string');
}

function authorizeUrl(params: Record<string, string>): string {
  const client = auth.clients.web;
  return `${auth.issuer}/auth?${new URLSearchParams({
    client_id: client.clientId,
    response_type: 'code',
    redirect_uri: TEST_REDIRECT_URI,
    scope: 'openid api:read',
    state: 'st',
    code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
    code_challenge_method: 'S256',
    ...params,
  })}`;
}

async function authorizeError(params: Record<string, string>): Promise<{ status: number; error: string | null }> {
  const res = await fetch(authorizeUrl(params), { redirect: 'manual' });
  await res.text();
  const location = res.headers.get('location');
  assert.ok(location?.startsWith(TEST_REDIRECT_URI), `expected a redirect to the client, got ${res.status} ${location}`);
  return { status: res.status, error: new URL(location as string).searchParams.get('error') };
}

/** A fresh code for the web client, plus the verifier that goes with it. */
async function freshCode(): Promise<{ code: string; verifier: string }> {
  const verifier = oidc.randomPKCECodeVerifier();
  const url = authorizeUrl({ code_challenge: await oidc.calculatePKCECodeChallenge(verifier) });
  const callback = await loginWithForm(url, { username: auth.user.username, password: auth.user.password, redirectUri: TEST_REDIRECT_URI });
  return { code: callback.searchParams.get('code') as string, verifier };
}

const codeExchange = (code: string, verifier: string) =>
  tokenRequest(
    new URLSearchParams({ grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: TEST_REDIRECT_URI }).toString(),
    auth.clients.web,
  );

test('wrong client secret: 401 invalid_client', async () => {
  const r = await tokenRequest('grant_type=client_credentials', { ...auth.clients.service, clientSecret: 'not-the-secret-at-all' });
  assert.equal(r.status, 401);
  assert.equal(r.body.error, 'invalid_client');
  await assertStillServing();
});

test('unknown client: 401 invalid_client at the token endpoint, 400 page at authorization', async () => {
  const r = await tokenRequest('grant_type=client_credentials', { clientId: 'nobody', clientSecret: 'whatever-secret-value' });
  assert.equal(r.status, 401);
  assert.equal(r.body.error, 'invalid_client');
  const page = await fetch(authorizeUrl({ client_id: 'nobody' }), { redirect: 'manual' });
  assert.equal(page.status, 400);
  assert.equal(page.headers.get('location'), null);
  assertPageHeaders(page.headers);
  assert.match(await page.text(), /invalid_client/);
  await assertStillServing();
});

/** What every HTML page of the service carries: never framed, cached or sniffed. */
function assertPageHeaders(h: Headers): void {
  assert.equal(h.get('x-frame-options'), 'DENY');
  assert.match(h.get('content-security-policy') ?? '', /frame-ancestors 'none'/);
  assert.equal(h.get('cache-control'), 'no-store');
  assert.equal(h.get('x-content-type-options'), 'nosniff');
  assert.match(h.get('content-type') ?? '', /^text\/html/);
}

test('sign-out pages cannot be framed: the confirmation with a session, oidc-provider\'s self-submitting form without one', async () => {
  const jar = new CookieJar();
  await loginWithForm(authorizeUrl({}), { username: auth.user.username, password: auth.user.password, redirectUri: TEST_REDIRECT_URI, jar });
  const confirm = await fetch(`${auth.issuer}/session/end`, { redirect: 'manual', headers: { cookie: jar.header() } });
  assert.equal(confirm.status, 200);
  assertPageHeaders(confirm.headers);
  assert.match(await confirm.text(), /Yes, sign me out/);
  const anonymous = await fetch(`${auth.issuer}/session/end`, { redirect: 'manual' });
  assert.equal(anonymous.status, 200);
  assert.equal(anonymous.headers.get('x-frame-options'), 'DENY');
  assert.equal(anonymous.headers.get('content-security-policy'), "frame-ancestors 'none'");
  await anonymous.text();
});

test('unregistered redirect_uri (exact match): 400 page, no redirect', async () => {
  for (const uri of [`${TEST_REDIRECT_URI}/x`, `${TEST_REDIRECT_URI}?a=1`, 'http://127.0.0.1:10/callback', TEST_REDIRECT_URI.toUpperCase()]) {
    const res = await fetch(authorizeUrl({ redirect_uri: uri }), { redirect: 'manual' });
    assert.equal(res.status, 400, uri);
    assert.equal(res.headers.get('location'), null, uri);
    assert.match(await res.text(), /invalid_redirect_uri/, uri);
  }
  await assertStillServing();
});

test('missing PKCE and plain PKCE: invalid_request back to the client', async () => {
  const missing = await authorizeError({ code_challenge: '', code_challenge_method: '' });
  assert.equal(missing.status, 303);
  assert.equal(missing.error, 'invalid_request');
  const plain = await authorizeError({ code_challenge: 'a'.repeat(43), code_challenge_method: 'plain' });
  assert.equal(plain.status, 303);
  assert.equal(plain.error, 'invalid_request');
  await assertStillServing();
});

test('implicit flow refused: unsupported_response_type', async () => {
  const res = await fetch(authorizeUrl({ response_type: 'token' }), { redirect: 'manual' });
  assert.equal(res.status, 303);
  const location = new URL(res.headers.get('location') as string);
  assert.equal(new URLSearchParams(location.hash.slice(1)).get('error'), 'unsupported_response_type');
  await assertStillServing();
});

test('scope not allowed for the client: invalid_scope (authorization and client credentials)', async () => {
  const third = auth.clients.thirdParty;
  const a = await authorizeError({ client_id: third.clientId, scope: 'openid api:write' });
  assert.equal(a.error, 'invalid_scope');
  const r = await tokenRequest('grant_type=client_credentials&scope=api:write', auth.clients.opaqueService);
  assert.equal(r.status, 400);
  assert.equal(r.body.error, 'invalid_scope');
  await assertStillServing();
});

test('resource not allowed for the client: 400 invalid_target', async () => {
  const r = await tokenRequest(`grant_type=client_credentials&resource=${encodeURIComponent('https://elsewhere.example')}`, auth.clients.opaqueService);
  assert.equal(r.status, 400);
  assert.equal(r.body.error, 'invalid_target');
  const r2 = await tokenRequest(`grant_type=client_credentials&resource=${encodeURIComponent(TEST_OPAQUE_API)}`, auth.clients.opaqueService);
  assert.equal(r2.status, 200);
});

test('wrong code_verifier: 400 invalid_grant; the holder of the right verifier still gets tokens', async () => {
  const { code, verifier } = await freshCode();
  const wrong = await codeExchange(code, oidc.randomPKCECodeVerifier());
  assert.equal(wrong.status, 400);
  assert.equal(wrong.body.error, 'invalid_grant');
  const malformed = await codeExchange(code, 'short');
  assert.equal(malformed.status, 400);
  assert.equal(malformed.body.error, 'invalid_request');
  const right = await codeExchange(code, verifier);
  assert.equal(right.status, 200);
});

test('replayed code: 400 invalid_grant and the tokens from its first use are revoked', async () => {
  const { code, verifier } = await freshCode();
  const first = await codeExchange(code, verifier);
  assert.equal(first.status, 200);
  const again = await codeExchange(code, verifier);
  assert.equal(again.status, 400);
  assert.equal(again.body.error, 'invalid_grant');
  const refresh = (first.body as { refresh_token?: string }).refresh_token as string;
  const r = await tokenRequest(`grant_type=refresh_token&refresh_token=${encodeURIComponent(refresh)}`, auth.clients.web);
  assert.equal(r.status, 400);
  assert.equal(r.body.error, 'invalid_grant');
  await assertStillServing();
});

test('expired code (clock moved past its lifetime): 400 invalid_grant', async () => {
  const { code, verifier } = await freshCode();
  clock.advance((auth.config.ttl.authorizationCode + 1) * 1000);
  try {
    const r = await codeExchange(code, verifier);
    assert.equal(r.status, 400);
    assert.equal(r.body.error, 'invalid_grant');
  } finally {
    clock.reset();
  }
  await assertStillServing();
});

test('malformed bodies: 400 invalid_request', async () => {
  const json = await tokenRequest('{"grant_type":"client_credentials"}', auth.clients.service, 'application/json');
  assert.equal(json.status, 400);
  assert.equal(json.body.error, 'invalid_request');
  const dup = await tokenRequest('grant_type=client_credentials&grant_type=refresh_token');
  assert.equal(dup.status, 400);
  assert.equal(dup.body.error, 'invalid_request');
  const none = await tokenRequest('');
  assert.equal(none.status, 400);
  assert.equal(none.body.error, 'invalid_request');
  const unknownGrant = await tokenRequest('grant_type=password&username=a&password=b');
  assert.equal(unknownGrant.status, 400);
  assert.equal(unknownGrant.body.error, 'unsupported_grant_type');
  await assertStillServing();
});

test('oversized parameters: 413 for a large body, 411 for a body without a length, 414 for a long request target', async () => {
  const big = await tokenRequest(`grant_type=client_credentials&scope=${'a'.repeat(20_000)}`);
  assert.equal(big.status, 413);
  assert.equal(big.body.error, 'invalid_request');
  // A chunked body has no length to hold against maxBodyBytes before it is read: refused, small or large.
  for (const size of [10, 20_000]) {
    const chunked = await fetch(`${auth.issuer}/token`, {
      method: 'POST',
      headers: { authorization: basic(auth.clients.service), 'content-type': 'application/x-www-form-urlencoded' },
      body: new ReadableStream({
        start(c) {
          c.enqueue(new TextEncoder().encode(`grant_type=client_credentials&scope=${'a'.repeat(size)}`));
          c.close();
        },
      }),
      duplex: 'half',
    } as RequestInit);
    assert.equal(chunked.status, 411, String(size));
    assert.equal(((await chunked.json()) as { error: string }).error, 'invalid_request');
  }
  const long = await fetch(`${auth.issuer}/auth?state=${'a'.repeat(9000)}`, { redirect: 'manual' });
  assert.equal(long.status, 414);
  await long.text();
  await assertStillServing();
});

test('userinfo without a token: 401 invalid_token', async () => {
  const res = await fetch(`${auth.issuer}/me`);
  assert.equal(res.status, 401);
  assert.equal(((await res.json()) as { error: string }).error, 'invalid_token');
  await assertStillServing();
});

test('introspection and revocation need client authentication: 401 invalid_client', async () => {
  for (const path of ['/token/introspection', '/token/revocation']) {
    const res = await fetch(`${auth.issuer}${path}`, {
      method: 'POST',
      headers: { authorization: basic({ ...auth.clients.gateway, clientSecret: 'wrong-secret-value-here' }), 'content-type': 'application/x-www-form-urlencoded' },
      body: 'token=abc',
    });
    assert.equal(res.status, 401, path);
    assert.equal(((await res.json()) as { error: string }).error, 'invalid_client', path);
  }
  const gw = await discoverClient(auth, auth.clients.gateway);
  assert.equal((await oidc.tokenIntrospection(gw, 'not-a-token')).active, false);
  await assertStillServing();
});
