import assert from 'node:assert/strict';
import { after, before, beforeEach, test } from 'node:test';
import { call, startTestGateway, type CallResult, type TestGateway } from '../helpers/gateway.js';
import { startIntrospectionStub, type IntrospectionStub, type StubMode } from '../helpers/introspection.js';
import { startEchoUpstream, type EchoRecord, type EchoUpstream } from '../helpers/upstream.js';

/*
 * The gateway against a controllable RFC 7662 endpoint (a real loopback server):
 * the failure modes the real authorization service cannot be made to show.
 */

let offsetMs = 0;
const now = () => Date.now() + offsetMs;
let stub: IntrospectionStub;
let upstream: EchoUpstream;
let gw: TestGateway;

before(async () => {
  stub = await startIntrospectionStub();
  upstream = await startEchoUpstream();
  gw = await startTestGateway(
    {
      security: {
        introspection: {
          endpoint: stub.endpoint,
          clientId: stub.clientId,
          clientSecret: stub.clientSecret,
          audience: 'orders-api',
          timeoutMs: 300,
          cacheMaxAge: '10s',
          inactiveCacheMaxAge: '2s',
        },
      },
      routes: [
        {
          path: '/api',
          upstream: upstream.url,
          auth: 'opaque',
          scopes: ['orders:read'],
          propagate: { headers: { subject: 'x-user-id', scopes: 'x-user-scopes', issuer: 'x-user-issuer' } },
        },
        { path: '/public', upstream: upstream.url, auth: 'none' },
      ],
    },
    { now },
  );
});

after(async () => {
  await gw.close();
  await upstream.close();
  await stub.close();
});

beforeEach(() => {
  stub.mode = 'ok';
  stub.requests = 0;
});

let counter = 0;
function issue(extra: Record<string, unknown> = {}): string {
  const token = `opaque-${++counter}-${Math.random().toString(36).slice(2)}`;
  stub.tokens.set(token, {
    active: true,
    sub: 'alice',
    aud: 'orders-api',
    scope: 'orders:read',
    exp: Math.floor(now() / 1000) + 300,
    ...extra,
  });
  return token;
}

const bearer = (tok: string) => ({ headers: { authorization: `Bearer ${tok}` } });

function assertProblem(res: CallResult, status: number, code: string, token?: string): void {
  assert.equal(res.status, status, res.text);
  assert.equal(res.headers['content-type'], 'application/problem+json');
  assert.equal(res.json().code, code);
  if (token) assert.ok(!res.text.includes(token), 'the token is not echoed');
}

test('an active token passes with its identity; the issuer defaults to the endpoint origin', async () => {
  const res = await call(`${gw.gw.url}/api/orders`, bearer(issue()));
  assert.equal(res.status, 200, res.text);
  const got = res.json<EchoRecord>();
  assert.equal(got.headers['x-user-id'], 'alice');
  assert.equal(got.headers['x-user-scopes'], 'orders:read');
  assert.equal(got.headers['x-user-issuer'], new URL(stub.endpoint).origin);
});

test('inactive: 401 GH_TOKEN_INACTIVE with an invalid_token challenge', async () => {
  const res = await call(`${gw.gw.url}/api/orders`, bearer('never-issued'));
  assertProblem(res, 401, 'GH_TOKEN_INACTIVE');
  assert.match(String(res.headers['www-authenticate']), /error="invalid_token"/);
});

test('an active token without the route scope: 403 insufficient_scope', async () => {
  const res = await call(`${gw.gw.url}/api/orders`, bearer(issue({ scope: 'orders:write' })));
  assertProblem(res, 403, 'GH_INSUFFICIENT_SCOPE');
});

test('a bearer over the length limit: 400 GH_BAD_CREDENTIAL_REQUEST when it is not even token68, else 401 GH_TOKEN_MALFORMED; neither is introspected', async () => {
  // Both over the introspection client's 8192 characters, within the header limit.
  const notToken68 = `${'a'.repeat(9000)};`;
  assertProblem(await call(`${gw.gw.url}/api/orders`, bearer(notToken68)), 400, 'GH_BAD_CREDENTIAL_REQUEST');
  assertProblem(await call(`${gw.gw.url}/api/orders`, bearer('a;')), 400, 'GH_BAD_CREDENTIAL_REQUEST');
  const tooLong = 'a'.repeat(9000);
  assertProblem(await call(`${gw.gw.url}/api/orders`, bearer(tooLong)), 401, 'GH_TOKEN_MALFORMED');
  assert.equal(stub.requests, 0);
});

const FAILURES: StubMode[] = ['hang', 'reset', '500', 'not-json', 'bad-active', 'huge', 'html'];
for (const mode of FAILURES) {
  test(`introspection endpoint "${mode}": 503 GH_INTROSPECTION_UNAVAILABLE, and the gateway serves on`, async () => {
    const token = issue();
    stub.mode = mode;
    const res = await call(`${gw.gw.url}/api/orders`, bearer(token));
    assertProblem(res, 503, 'GH_INTROSPECTION_UNAVAILABLE', token);
    assert.equal(res.headers['retry-after'], '5');
    assert.equal((await call(`${gw.gw.url}/public/x`)).status, 200);
    stub.mode = 'ok';
    assert.equal((await call(`${gw.gw.url}/api/orders`, bearer(token))).status, 200, 'not cached: recovers at once');
    assert.ok(!gw.logText().includes(token), 'the token is not logged');
  });
}

test('concurrent requests with one uncached token cause one introspection', async () => {
  const token = issue();
  const release = stub.hold();
  const pending = Promise.all(Array.from({ length: 20 }, () => call(`${gw.gw.url}/api/orders`, bearer(token))));
  while (stub.requests === 0) await new Promise((r) => setTimeout(r, 5));
  release();
  const results = await pending;
  assert.deepEqual(new Set(results.map((r) => r.status)), new Set([200]));
  assert.equal(stub.requests, 1);
});

test('a revoked token is refused once cacheMaxAge has passed; an inactive answer is re-asked after inactiveCacheMaxAge', async () => {
  const token = issue();
  assert.equal((await call(`${gw.gw.url}/api/orders`, bearer(token))).status, 200);
  stub.tokens.set(token, { active: false });
  offsetMs += 9_000;
  assert.equal((await call(`${gw.gw.url}/api/orders`, bearer(token))).status, 200, 'cached within the bound');
  offsetMs += 1_000;
  assertProblem(await call(`${gw.gw.url}/api/orders`, bearer(token)), 401, 'GH_TOKEN_INACTIVE');
  assert.equal(stub.requests, 2);
  offsetMs += 1_000;
  assertProblem(await call(`${gw.gw.url}/api/orders`, bearer(token)), 401, 'GH_TOKEN_INACTIVE');
  assert.equal(stub.requests, 2, 'the inactive answer is reused');
  offsetMs += 1_000;
  await call(`${gw.gw.url}/api/orders`, bearer(token));
  assert.equal(stub.requests, 3);
});

test('an active answer for another audience is refused (401 GH_TOKEN_INVALID)', async () => {
  assertProblem(await call(`${gw.gw.url}/api/orders`, bearer(issue({ aud: 'billing-api' }))), 401, 'GH_TOKEN_INVALID');
});
