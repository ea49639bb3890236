import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { decodeProtectedHeader } from 'jose';
import * as oidc from 'openid-client';
import {
  discoverClient,
  obtainTokensWithLogin,
  startTestAuthService,
  TEST_API,
  TEST_OPAQUE_API,
  type TestAuthService,
} from '../helpers/auth-service.js';
import { call, startTestGateway, type CallResult, type TestGateway } from '../helpers/gateway.js';
import { startEchoUpstream, type EchoRecord, type EchoUpstream } from '../helpers/upstream.js';

/*
 * The real authorization service and the real gateway together, driven by a
 * real OAuth client (openid-client). Both share one clock that the tests move
 * forward, so cache bounds and key schedules are crossed without sleeping.
 */

let offsetMs = 0;
const now = () => Date.now() + offsetMs;

let auth: TestAuthService;
let upstream: EchoUpstream;
let gw: TestGateway;
let service: oidc.Configuration; // confidential client: JWT (default resource) or opaque tokens
let jwksUri: string;

const CACHE_MAX_AGE_S = 30;

function gatewayConfig(introspection: Record<string, unknown>) {
  return {
    security: {
      jwt: {
        issuer: auth.issuer,
        audience: TEST_API,
        jwksUri,
        algorithms: ['ES256'],
        requireTyp: 'at+jwt',
        clockSkew: 0,
      },
      introspection: {
        issuer: auth.issuer,
        clientId: auth.clients.gateway.clientId,
        clientSecret: auth.clients.gateway.clientSecret,
        audience: TEST_OPAQUE_API,
        clockSkew: 0,
        ...introspection,
      },
    },
    routes: [
      { path: '/public', upstream: upstream.url, auth: 'none' },
      { path: '/jwt', upstream: upstream.url, auth: 'jwt', scopes: ['api:read'], propagate: { headers: { clientId: 'x-client-id' } } },
      {
        path: '/opaque',
        upstream: upstream.url,
        auth: 'opaque',
        scopes: ['api:read'],
        propagate: { headers: { subject: 'x-user-id', clientId: 'x-client-id', scopes: 'x-user-scopes' } },
      },
      {
        path: '/both',
        upstream: upstream.url,
        auth: ['jwt', 'opaque'],
        scopes: ['api:read'],
        // Only introspection responses carry token_type: it shows which authenticator answered.
        propagate: { headers: { clientId: 'x-client-id', claims: { token_type: 'x-token-type' } } },
      },
    ],
  };
}

before(async () => {
  auth = await startTestAuthService({ now });
  upstream = await startEchoUpstream();
  const meta = (await (await fetch(`${auth.issuer}/.well-known/openid-configuration`)).json()) as { jwks_uri: string };
  jwksUri = meta.jwks_uri;
  service = await discoverClient(auth, auth.clients.service);
  gw = await startTestGateway(gatewayConfig({ cacheMaxAge: CACHE_MAX_AGE_S }), { now });
});

after(async () => {
  await gw?.close();
  await upstream?.close();
  await auth?.close();
});

async function clientCredentials(resource: string, scope = 'api:read'): Promise<string> {
  const res = await oidc.clientCredentialsGrant(service, { scope, resource });
  return res.access_token;
}

const bearer = (tok: string) => ({ headers: { authorization: `Bearer ${tok}` } });

function assertProblem(res: CallResult, status: number, code: string): void {
  assert.equal(res.status, status, res.text);
  assert.equal(res.json().code, code, res.text);
}

test('discovery names the endpoints the gateway uses', async () => {
  const meta = service.serverMetadata();
  assert.equal(meta.issuer, auth.issuer);
  assert.equal(meta.jwks_uri, jwksUri);
  assert.ok(meta.introspection_endpoint?.startsWith(auth.issuer));
});

test('client credentials → RFC 9068 JWT → accepted through the gateway via the service JWKS', async () => {
  const tok = await clientCredentials(TEST_API);
  assert.equal(decodeProtectedHeader(tok).typ, 'at+jwt');
  const res = await call(`${gw.gw.url}/jwt/orders`, bearer(tok));
  assert.equal(res.status, 200, res.text);
  assert.equal(res.json<EchoRecord>().headers['x-client-id'], auth.clients.service.clientId);
});

test('client credentials → opaque token → accepted through the gateway via introspection', async () => {
  const tok = await clientCredentials(TEST_OPAQUE_API);
  assert.equal(tok.split('.').length, 1, 'an opaque reference token');
  const res = await call(`${gw.gw.url}/opaque/x`, bearer(tok));
  assert.equal(res.status, 200, res.text);
  const got = res.json<EchoRecord>();
  assert.equal(got.headers['x-client-id'], auth.clients.service.clientId);
  assert.equal(got.headers['x-user-scopes'], 'api:read');
  assert.equal(got.headers['x-user-id'], undefined, 'a client-credentials token has no subject');
});

test('a user token from the code flow (opaque resource) carries the user through introspection; its refresh token is refused as inactive', async () => {
  const tokens = await obtainTokensWithLogin(auth, auth.clients.opaqueWeb, {
    scope: 'openid offline_access api:read',
    resource: TEST_OPAQUE_API,
  });
  const ok = await call(`${gw.gw.url}/opaque`, bearer(tokens.access_token));
  assert.equal(ok.status, 200, ok.text);
  assert.equal(ok.json<EchoRecord>().headers['x-user-id'], auth.user.id);
  assert.ok(tokens.refresh_token);
  // The service tells no client but its own anything about a refresh token: to the gateway it is inactive.
  assertProblem(await call(`${gw.gw.url}/opaque`, bearer(tokens.refresh_token)), 401, 'GH_TOKEN_INACTIVE');
});

test('opaque tokens for another audience, and JWTs on an opaque-only route, are refused', async () => {
  const userinfoToken = (await obtainTokensWithLogin(auth, auth.clients.oidcOnly, { scope: 'openid' })).access_token;
  assertProblem(await call(`${gw.gw.url}/opaque`, bearer(userinfoToken)), 401, 'GH_TOKEN_INVALID');
  // An opaque-only route introspects whatever comes; the service cannot vouch for a JWT.
  const jwt = await clientCredentials(TEST_API);
  assertProblem(await call(`${gw.gw.url}/opaque`, bearer(jwt)), 401, 'GH_TOKEN_INVALID');
  assertProblem(await call(`${gw.gw.url}/opaque`, bearer('never-issued-token-value')), 401, 'GH_TOKEN_INACTIVE');
  assert.equal((await call(`${gw.gw.url}/public`)).status, 200, 'the gateway still serves');
});

test('revoked at the service: still served from cache, refused once the cache bound has passed', async () => {
  const tok = await clientCredentials(TEST_OPAQUE_API);
  assert.equal((await call(`${gw.gw.url}/opaque`, bearer(tok))).status, 200);
  await oidc.tokenRevocation(service, tok, { token_type_hint: 'access_token' });
  const introspected = await oidc.tokenIntrospection(service, tok);
  assert.equal(introspected.active, false, 'the service says inactive at once');

  offsetMs += (CACHE_MAX_AGE_S - 1) * 1000;
  assert.equal((await call(`${gw.gw.url}/opaque`, bearer(tok))).status, 200, 'within the bound the cached answer stands');
  offsetMs += 1000;
  assertProblem(await call(`${gw.gw.url}/opaque`, bearer(tok)), 401, 'GH_TOKEN_INACTIVE');
});

test('refresh-token reuse at the service revokes the grant: the gateway refuses its access tokens within the cache bound', async () => {
  const web = await discoverClient(auth, auth.clients.opaqueWeb);
  const first = await obtainTokensWithLogin(auth, auth.clients.opaqueWeb, { scope: 'openid offline_access api:read', resource: TEST_OPAQUE_API });
  const rotated = await oidc.refreshTokenGrant(web, first.refresh_token as string);
  assert.equal((await call(`${gw.gw.url}/opaque`, bearer(rotated.access_token))).status, 200);
  // Replaying the used refresh token is reuse (RFC 9700): the service revokes the whole grant.
  await assert.rejects(oidc.refreshTokenGrant(web, first.refresh_token as string));

  offsetMs += CACHE_MAX_AGE_S * 1000;
  assertProblem(await call(`${gw.gw.url}/opaque`, bearer(rotated.access_token)), 401, 'GH_TOKEN_INACTIVE');
});

test('a route accepting jwt and opaque: each token goes to its own authenticator', async () => {
  const misses = async () =>
    (await gw.metrics.tokenCache.get()).values.find((v) => v.labels.cache === 'introspection' && v.labels.result === 'miss')?.value ?? 0;

  const jwt = await clientCredentials(TEST_API);
  const before = await misses();
  const viaJwt = await call(`${gw.gw.url}/both`, bearer(jwt));
  assert.equal(viaJwt.status, 200, viaJwt.text);
  assert.equal(viaJwt.json<EchoRecord>().headers['x-token-type'], undefined);
  assert.equal(await misses(), before, 'a JWT is not introspected');

  const opaque = await clientCredentials(TEST_OPAQUE_API);
  const viaOpaque = await call(`${gw.gw.url}/both`, bearer(opaque));
  assert.equal(viaOpaque.status, 200, viaOpaque.text);
  assert.equal(viaOpaque.json<EchoRecord>().headers['x-token-type'], 'Bearer');

  // A tampered JWT is the JWT authenticator's to refuse; it never reaches introspection.
  const [h, p] = jwt.split('.');
  const tampered = `${h}.${p}.${Buffer.alloc(64).toString('base64url')}`;
  const misses0 = await misses();
  assertProblem(await call(`${gw.gw.url}/both`, bearer(tampered)), 401, 'GH_TOKEN_INVALID');
  assert.equal(await misses(), misses0);
  assertProblem(await call(`${gw.gw.url}/both`, bearer('unknown-opaque')), 401, 'GH_TOKEN_INACTIVE');
});

test('key rotation at the service under continuous traffic: zero failures for valid tokens', async () => {
  const kids = new Set<string>();
  const failures: string[] = [];
  let requests = 0;
  let running = true;
  const worker = async () => {
    while (running) {
      const tok = await clientCredentials(TEST_API);
      kids.add(decodeProtectedHeader(tok).kid as string);
      for (let i = 0; i < 3; i++) {
        const res = await call(`${gw.gw.url}/jwt`, bearer(tok));
        requests++;
        if (res.status !== 200) failures.push(`${res.status} ${res.text}`);
      }
    }
  };
  const workers = Array.from({ length: 4 }, worker);
  const settle = async (n: number) => {
    const target = requests + n;
    while (requests < target && failures.length === 0) await new Promise((r) => setTimeout(r, 10));
  };
  try {
    await settle(30);
    const first = await auth.service.rotateKeys();
    await settle(30); // new key published, old one still signing
    offsetMs += (auth.config.signing.rotationDelay + 1) * 1000; // the new key now signs
    await settle(60);
    assert.ok(first, 'rotated');
    await auth.service.rotateKeys(); // and once more, with traffic still flowing
    await settle(30);
    offsetMs += (auth.config.signing.rotationDelay + 1) * 1000;
    await settle(60);
  } finally {
    running = false;
    await Promise.all(workers);
  }
  assert.deepEqual(failures, []);
  assert.ok(kids.size >= 3, `tokens were signed by three keys in turn (saw ${kids.size})`);
});

test('introspection endpoint down: 503 for an uncached token, cached tokens still pass, the gateway still serves', async () => {
  const auth2 = await startTestAuthService({ now });
  const svc2 = await discoverClient(auth2, auth2.clients.opaqueService);
  const gw2 = await startTestGateway(
    {
      security: {
        introspection: {
          issuer: auth2.issuer,
          clientId: auth2.clients.gateway.clientId,
          clientSecret: auth2.clients.gateway.clientSecret,
          audience: TEST_OPAQUE_API,
          timeoutMs: 1000,
        },
      },
      routes: [
        { path: '/opaque', upstream: upstream.url, auth: 'opaque' },
        { path: '/public', upstream: upstream.url, auth: 'none' },
      ],
    },
    { now },
  );
  try {
    const warm = (await oidc.clientCredentialsGrant(svc2, { scope: 'api:read', resource: TEST_OPAQUE_API })).access_token;
    const cold = (await oidc.clientCredentialsGrant(svc2, { scope: 'api:read', resource: TEST_OPAQUE_API })).access_token;
    assert.equal((await call(`${gw2.gw.url}/opaque`, bearer(warm))).status, 200);
    await auth2.close();

    const res = await call(`${gw2.gw.url}/opaque`, bearer(cold));
    assertProblem(res, 503, 'GH_INTROSPECTION_UNAVAILABLE');
    assert.ok(!res.text.includes(cold), 'the token is not echoed');
    assert.equal((await call(`${gw2.gw.url}/opaque`, bearer(warm))).status, 200, 'a cached answer still serves');
    assert.equal((await call(`${gw2.gw.url}/public`)).status, 200);
    assert.ok(!gw2.logText().includes(cold), 'the token is not logged');
  } finally {
    await gw2.close();
    await auth2.close().catch(() => undefined);
  }
});
