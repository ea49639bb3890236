import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { forgeHs256WithPublicKey, forgeToken, generateTestKey, mintToken, startJwksServer, testIssuerOptions, type JwksServer, type TestKey } from '../helpers/jwt.js';
import { call, rawGet, rawRequest, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { startEchoUpstream, type EchoRecord, type EchoUpstream } from '../helpers/upstream.js';

const ISS = 'https://issuer.test';
const ISS2 = 'https://second.test';

let upstream: EchoUpstream;
let jwks: JwksServer;
let jwks2: JwksServer;
let key: TestKey;
let key2: TestKey;
let t: TestGateway;
const mintedTokens: string[] = [];

function token(claims: Record<string, unknown> = {}, k: TestKey = key, iss = ISS): string {
  const tok = mintToken(k, { iss, aud: 'api', sub: 'alice', scope: 'orders:read orders:write', tenant: 'acme', roles: ['user'], ...claims });
  mintedTokens.push(tok);
  return tok;
}

const bearer = (tok: string) => ({ authorization: `Bearer ${tok}` });

before(async () => {
  upstream = await startEchoUpstream();
  key = generateTestKey('RS256');
  key2 = generateTestKey('ES256');
  jwks = await startJwksServer([key]);
  jwks2 = await startJwksServer([key2]);
  t = await startTestGateway({
    security: {
      jwt: [
        testIssuerOptions({ issuer: ISS, jwksUri: jwks.uri, clockSkew: 0 }),
        testIssuerOptions({ name: 'second', issuer: ISS2, jwksUri: jwks2.uri, clockSkew: 0 }),
      ],
      realm: 'test-realm',
    },
    routes: [
      { path: '/public', upstream: upstream.url, auth: 'none' },
      {
        path: '/api/orders',
        upstream: upstream.url,
        scopes: ['orders:read'],
        propagate: { headers: { subject: 'x-user-id', scopes: 'x-user-scopes', clientId: 'x-client-id', claims: { tenant: 'x-tenant' } } },
      },
      { path: '/api/write', upstream: upstream.url, scopes: ['orders:read', 'orders:admin'] },
      { path: '/api/admin', upstream: upstream.url, claims: [{ claim: 'roles', contains: 'admin' }] },
      { path: '/api/intl', upstream: upstream.url, claims: [{ claim: 'https://example.jp/ロール', equals: 'admin' }] },
      {
        path: '/api/masked',
        upstream: upstream.url,
        propagate: { maskedClaims: { claims: ['sub', 'tenant'] } },
      },
      {
        path: '/api/masked-keep-token',
        upstream: upstream.url,
        propagate: { authorization: 'forward', maskedClaims: { claims: ['sub'] } },
      },
      { path: '/api/second-only', upstream: upstream.url, issuers: ['second'] },
      { path: '/api/optional', upstream: upstream.url, auth: ['jwt', 'none'], propagate: { headers: { subject: 'x-user-id' } } },
    ],
  });
});

after(async () => {
  await t.close();
  await upstream.close();
  await jwks.close();
  await jwks2.close();
});

function lastReceived(): EchoRecord {
  const r = upstream.received.at(-1);
  assert.ok(r, 'the upstream received a request');
  return r;
}

async function assertProblem(
  res: { status: number; headers: Record<string, string | string[] | undefined>; text: string },
  status: number,
  code: string,
): Promise<void> {
  assert.equal(res.status, status, res.text);
  assert.equal(res.headers['content-type'], 'application/problem+json');
  const body = JSON.parse(res.text) as { code: string; status: number };
  assert.equal(body.code, code);
  assert.equal(body.status, status);
  for (const tok of mintedTokens) assert.ok(!res.text.includes(tok), 'the body never echoes a token');
}

test('a valid token passes; identity and forwarding headers reach the upstream', async () => {
  const tok = token();
  const res = await call(`${t.gw.url}/api/orders/42?x=1&y=%2F`, { headers: bearer(tok) });
  assert.equal(res.status, 200, res.text);
  const got = res.json<EchoRecord>();
  assert.equal(got.path, '/api/orders/42');
  assert.equal(got.query, '?x=1&y=%2F', 'query forwarded unchanged');
  assert.equal(got.headers.authorization, `Bearer ${tok}`, 'Authorization forwarded by default');
  assert.equal(got.headers['x-user-id'], 'alice');
  assert.equal(got.headers['x-user-scopes'], 'orders:read orders:write');
  assert.equal(got.headers['x-tenant'], 'acme');
  assert.equal(got.headers['x-client-id'], undefined, 'no client id claim, no header');
  assert.equal(got.headers['x-forwarded-for'], '127.0.0.1');
  assert.equal(got.headers['x-forwarded-proto'], 'http');
  assert.match(String(got.headers['x-request-id']), /^[0-9a-f-]{36}$/);
  assert.equal(res.headers['x-request-id'], got.headers['x-request-id'], 'the request id is returned');
});

test('no token: 401 with a bare challenge', async () => {
  const res = await call(`${t.gw.url}/api/orders`);
  await assertProblem(res, 401, 'GH_TOKEN_MISSING');
  assert.equal(res.headers['www-authenticate'], 'Bearer realm="test-realm"');
});

test('another scheme (Basic, Digest, a misspelt Bearer): 401 GH_TOKEN_MISSING with a bare challenge (RFC 6750 §3.1)', async () => {
  for (const value of ['Basic dXNlcjpwYXNz', 'Digest username="u"', 'Bearerx abc', 'eyJhbGciOiJSUzI1NiJ9']) {
    const res = await call(`${t.gw.url}/api/orders`, { headers: { authorization: value } });
    await assertProblem(res, 401, 'GH_TOKEN_MISSING');
    assert.equal(res.headers['www-authenticate'], 'Bearer realm="test-realm"', value);
  }
});

test('garbage Bearer tokens: 401 GH_TOKEN_MALFORMED with invalid_token', async () => {
  for (const value of ['Bearer garbage', 'Bearer a.b.c', 'Bearer eyJhbGciOiJSUzI1NiJ9.e30.AAAA', 'Bearer ey!!.x.y']) {
    const res = await call(`${t.gw.url}/api/orders`, { headers: { authorization: value } });
    if (value === 'Bearer ey!!.x.y') {
      await assertProblem(res, 400, 'GH_BAD_CREDENTIAL_REQUEST');
      continue;
    }
    assert.equal(res.status, 401, value);
    assert.equal(res.headers['content-type'], 'application/problem+json');
    if (!value.includes('.')) assert.equal(res.json().code, 'GH_TOKEN_MALFORMED', value);
    assert.match(String(res.headers['www-authenticate']), /^Bearer realm="test-realm", error="invalid_token"/, value);
  }
});

test('a valid token respelled in its signature (same bytes, non-zero unused bits): 401 GH_TOKEN_MALFORMED, the original still passes', async () => {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  const tok = token();
  const respelled = tok.slice(0, -1) + alphabet[alphabet.indexOf(tok.at(-1)!) + 1];
  const signature = (v: string) => Buffer.from(v.slice(v.lastIndexOf('.') + 1), 'base64url');
  assert.deepEqual(signature(respelled), signature(tok), 'a lenient decoder reads the same signature');
  mintedTokens.push(respelled);
  await assertProblem(await call(`${t.gw.url}/api/orders`, { headers: bearer(respelled) }), 401, 'GH_TOKEN_MALFORMED');
  assert.equal((await call(`${t.gw.url}/api/orders`, { headers: bearer(tok) })).status, 200);
});

test('forged tokens are refused: alg none, HS256 with the RSA public key, zero signature, unknown kid', async () => {
  const claims = { iss: ISS, aud: 'api', sub: 'mallory', scope: 'orders:read', exp: Math.floor(Date.now() / 1000) + 300 };
  const forged = [
    forgeToken({ alg: 'none', typ: 'JWT' }, claims),
    forgeToken({ alg: 'NoNe', typ: 'JWT' }, claims),
    forgeHs256WithPublicKey(key, claims),
    forgeToken({ alg: 'RS256', kid: key.kid }, claims, Buffer.alloc(256)),
    mintToken(generateTestKey('RS256'), claims),
  ];
  mintedTokens.push(...forged);
  for (const tok of forged) {
    const res = await call(`${t.gw.url}/api/orders`, { headers: bearer(tok) });
    assert.equal(res.status, 401, res.text);
    assert.match(String(res.headers['www-authenticate']), /error="invalid_token"/);
  }
});

test('expired token: 401 GH_TOKEN_EXPIRED', async () => {
  const res = await call(`${t.gw.url}/api/orders`, { headers: bearer(token({ exp: Math.floor(Date.now() / 1000) - 60 })) });
  await assertProblem(res, 401, 'GH_TOKEN_EXPIRED');
});

test('wrong audience and wrong issuer: 401 GH_TOKEN_INVALID', async () => {
  await assertProblem(await call(`${t.gw.url}/api/orders`, { headers: bearer(token({ aud: 'other' })) }), 401, 'GH_TOKEN_INVALID');
  await assertProblem(await call(`${t.gw.url}/api/orders`, { headers: bearer(token({ iss: 'https://evil.test' })) }), 401, 'GH_TOKEN_INVALID');
});

test('several Authorization headers: 400 invalid_request', async () => {
  const tok = token();
  const res = await rawRequest(t.gw.url, rawGet('/api/orders', [`Authorization: Bearer ${tok}`, `Authorization: Bearer ${tok}`]));
  assert.equal(res.status, 400);
  assert.equal(JSON.parse(res.body).code, 'GH_BAD_CREDENTIAL_REQUEST');
  assert.match(res.headers['www-authenticate'] ?? '', /error="invalid_request"/);
});

test('malformed Bearer value: 400 invalid_request', async () => {
  const res = await call(`${t.gw.url}/api/orders`, { headers: { authorization: 'Bearer a b' } });
  await assertProblem(res, 400, 'GH_BAD_CREDENTIAL_REQUEST');
});

test('token in the query string: 400 invalid_request, even next to a valid header', async () => {
  const tok = token();
  const res = await call(`${t.gw.url}/api/orders?access_token=${tok}`, { headers: bearer(tok) });
  await assertProblem(res, 400, 'GH_BAD_CREDENTIAL_REQUEST');
  assert.match(String(res.headers['www-authenticate']), /error="invalid_request"/);
  // The name with percent-encoded letters is the same parameter to an upstream that decodes it.
  const before = upstream.received.length;
  await assertProblem(await call(`${t.gw.url}/api/orders?x=1&%61ccess_t%6Fken=${tok}`, { headers: bearer(tok) }), 400, 'GH_BAD_CREDENTIAL_REQUEST');
  // So are the names PHP folds into access_token.
  // PHP also drops leading spaces and cuts a name at NUL.
  for (const name of ['access.token', 'access+token', 'access[token', 'access_token[]', '%20access_token', '+access_token', '%20%20access.token', 'access_token%00']) {
    await assertProblem(await call(`${t.gw.url}/api/orders?${name}=${tok}`, { headers: bearer(tok) }), 400, 'GH_BAD_CREDENTIAL_REQUEST');
  }
  assert.equal(upstream.received.length, before, 'the URL carrying the token was not forwarded');
});

test('insufficient scope: 403 with the scopes the route needs', async () => {
  const res = await call(`${t.gw.url}/api/write`, { headers: bearer(token()) });
  await assertProblem(res, 403, 'GH_INSUFFICIENT_SCOPE');
  const challenge = String(res.headers['www-authenticate']);
  assert.match(challenge, /^Bearer realm="test-realm", error="insufficient_scope"/);
  assert.match(challenge, /scope="orders:read orders:admin"/);
});

test('claim condition not met: 403 GH_CLAIM_MISMATCH; met: 200', async () => {
  await assertProblem(await call(`${t.gw.url}/api/admin`, { headers: bearer(token()) }), 403, 'GH_CLAIM_MISMATCH');
  const ok = await call(`${t.gw.url}/api/admin`, { headers: bearer(token({ roles: ['user', 'admin'] })) });
  assert.equal(ok.status, 200);
});

test('a claim named beyond ASCII (a JSON member name may be any Unicode): 403 whose challenge holds printable ASCII only, and the gateway goes on serving', async () => {
  const res = await call(`${t.gw.url}/api/intl`, { headers: bearer(token()) });
  await assertProblem(res, 403, 'GH_CLAIM_MISMATCH');
  const challenge = String(res.headers['www-authenticate']);
  assert.match(challenge, /^[\x20-\x7e]+$/);
  assert.match(challenge, /error_description="claim https:\/\/example\.jp\/\?\?\? does not meet/);
  const ok = await call(`${t.gw.url}/api/intl`, { headers: bearer(token({ 'https://example.jp/ロール': 'admin' })) });
  assert.equal(ok.status, 200);
});

test('spoofed identity headers never reach the upstream', async () => {
  const res = await call(`${t.gw.url}/api/orders`, {
    headers: {
      ...bearer(token()),
      'x-user-id': 'root',
      'X-User-Scopes': 'everything',
      'x-tenant': 'evil',
      'x-gatehouse-claims': 'e30',
      'x-auth-admin': 'true',
      'x-client-id': 'spoofed',
    },
  });
  assert.equal(res.status, 200);
  const got = res.json<EchoRecord>();
  assert.equal(got.headers['x-user-id'], 'alice');
  assert.equal(got.headers['x-user-scopes'], 'orders:read orders:write');
  assert.equal(got.headers['x-tenant'], 'acme');
  assert.equal(got.headers['x-gatehouse-claims'], undefined);
  assert.equal(got.headers['x-auth-admin'], undefined);
  assert.equal(got.headers['x-client-id'], undefined);
  const userIds = got.rawHeaders.filter((_, i) => i % 2 === 0 && got.rawHeaders[i]?.toLowerCase() === 'x-user-id');
  assert.equal(userIds.length, 1, 'exactly one x-user-id: ours');
});

test('identity headers spelled with underscores are stripped too (a CGI-style upstream reads x_user_id as X-User-Id)', async () => {
  const res = await call(`${t.gw.url}/api/orders`, {
    headers: {
      ...bearer(token()),
      x_user_id: 'root',
      'X-User_Scopes': 'everything',
      x_tenant: 'evil',
      x_gatehouse_claims: 'e30',
      'x_client-id': 'spoofed',
      // PHP behind Caddy's FastCGI or FrankenPHP reads these as HTTP_X_USER_ID and HTTP_X_TENANT too.
      'X.User.Id': 'root',
      'x.tenant': 'other-tenant',
    },
  });
  assert.equal(res.status, 200);
  const got = res.json<EchoRecord>();
  const names = got.rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase().replace(/[^a-z0-9-]/g, '-'));
  assert.equal(names.filter((n) => n === 'x-user-id').length, 1, 'only our x-user-id');
  assert.equal(names.filter((n) => n === 'x-tenant').length, 1, 'only our x-tenant');
  assert.ok(!names.includes('x-gatehouse-claims'));
  assert.ok(!names.includes('x-client-id'));
  assert.equal(got.headers['x-user-id'], 'alice');
});

test('spoofed identity headers are stripped on public routes too', async () => {
  const res = await call(`${t.gw.url}/public/x`, { headers: { 'x-user-id': 'root', 'x-gatehouse-sub': 'root' } });
  assert.equal(res.status, 200);
  const got = res.json<EchoRecord>();
  assert.equal(got.headers['x-user-id'], undefined);
  assert.equal(got.headers['x-gatehouse-sub'], undefined);
});

test('a header one route injects (x-tenant, outside the default prefixes) is stripped on every other route, public ones included', async () => {
  for (const path of ['/public/x', '/api/optional']) {
    const headers = path === '/public/x' ? {} : bearer(token());
    const res = await call(`${t.gw.url}${path}`, { headers: { ...headers, 'x-tenant': 'evil', x_tenant: 'evil', 'x-client-id': 'spoofed' } });
    assert.equal(res.status, 200, path);
    const names = res.json<EchoRecord>().rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase().replaceAll('_', '-'));
    assert.ok(!names.includes('x-tenant'), path);
    assert.ok(!names.includes('x-client-id'), path);
  }
});

test('masking: no Authorization upstream by default, only the chosen claims; a route may keep the token explicitly', async () => {
  const tok = token();
  const res = await call(`${t.gw.url}/api/masked`, { headers: bearer(tok) });
  assert.equal(res.status, 200);
  const got = res.json<EchoRecord>();
  assert.equal(got.headers.authorization, undefined);
  assert.ok(!JSON.stringify(got).includes(tok.split('.')[2] as string), 'no part of the token reaches the upstream');
  const claims = JSON.parse(Buffer.from(String(got.headers['x-gatehouse-claims']), 'base64url').toString('utf8'));
  assert.deepEqual(claims, { sub: 'alice', tenant: 'acme' });
  const kept = (await call(`${t.gw.url}/api/masked-keep-token`, { headers: bearer(tok) })).json<EchoRecord>();
  assert.equal(kept.headers.authorization, `Bearer ${tok}`);
  assert.deepEqual(JSON.parse(Buffer.from(String(kept.headers['x-gatehouse-claims']), 'base64url').toString('utf8')), { sub: 'alice' });
});

test('issuer restriction: another trusted issuer is refused on the route', async () => {
  await assertProblem(await call(`${t.gw.url}/api/second-only`, { headers: bearer(token()) }), 401, 'GH_TOKEN_INVALID');
  const ok = await call(`${t.gw.url}/api/second-only`, { headers: bearer(token({}, key2, ISS2)) });
  assert.equal(ok.status, 200, ok.text);
});

test('optional auth: anonymous passes without identity, a token adds it, a bad token fails', async () => {
  const anon = await call(`${t.gw.url}/api/optional`, { headers: { 'x-user-id': 'root' } });
  assert.equal(anon.status, 200);
  assert.equal(anon.json<EchoRecord>().headers['x-user-id'], undefined);
  const known = await call(`${t.gw.url}/api/optional`, { headers: bearer(token()) });
  assert.equal(known.json<EchoRecord>().headers['x-user-id'], 'alice');
  const bad = await call(`${t.gw.url}/api/optional`, { headers: bearer(token({ aud: 'nope' })) });
  assert.equal(bad.status, 401);
  // A scheme no authenticator reads: admitted anonymously, and the upstream never sees it as if the gateway had checked it.
  const basic = await call(`${t.gw.url}/api/optional`, { headers: { authorization: 'Basic YWRtaW46YWRtaW4=' } });
  assert.equal(basic.status, 200);
  assert.equal(basic.json<EchoRecord>().headers.authorization, undefined);
  assert.equal(basic.json<EchoRecord>().headers['x-user-id'], undefined);
});

test('logs: one line per request, never a token; metrics count outcomes', async () => {
  const tok = token();
  await call(`${t.gw.url}/api/orders/logged`, { headers: { ...bearer(tok), cookie: 'session=secret-cookie-value' } });
  await call(`${t.gw.url}/api/orders/logged?access_token=${tok}`);
  const inPath = await call(`${t.gw.url}/public/callback/${tok}`);
  assert.equal(inPath.status, 200);
  const lines = t.requestLogs();
  assert.ok(lines.some((l) => l.path === '/public/callback/[redacted]'), 'a token in the path is masked in the log');
  const line = lines.find((l) => l.path === '/api/orders/logged' && l.status === 200);
  assert.ok(line, 'the request was logged');
  assert.equal(line.route, '/api/orders');
  assert.equal(line.auth, 'ok');
  assert.equal(line.method, 'GET');
  assert.equal(typeof line.durationMs, 'number');
  assert.match(String(line.requestId), /^[0-9a-f-]{36}$/);
  const text = t.logText();
  for (const m of mintedTokens) assert.ok(!text.includes(m), 'no token in the logs');
  assert.ok(!text.includes('secret-cookie-value'));
  assert.ok(!text.includes(tok.split('.')[2] as string), 'not even the signature');
  const metrics = await t.metrics.registry.metrics();
  assert.match(metrics, /gatehouse_auth_outcomes_total\{route="\/api\/orders",outcome="ok"\} [1-9]/);
  assert.match(metrics, /gatehouse_auth_outcomes_total\{route="\/api\/orders",outcome="GH_TOKEN_MISSING"\} [1-9]/);
  assert.match(metrics, /gatehouse_requests_total\{route="\/api\/orders",status="401"\} [1-9]/);
  assert.match(metrics, /gatehouse_token_cache_total\{cache="jwt",result="(hit|miss)"\} [1-9]/);
  assert.match(metrics, /gatehouse_jwks_fetches_total\{issuer="https:\/\/issuer.test",result="ok"\} [1-9]/);
});

test('token caches through the gateway: a token is stored at its second verification, a bad signature at its second failure', async () => {
  const counts = async () => {
    const text = await t.metrics.registry.metrics();
    const read = (result: string) => Number(new RegExp(`gatehouse_token_cache_total\\{cache="jwt",result="${result}"\\} (\\d+)`).exec(text)?.[1] ?? 0);
    return { hit: read('hit'), miss: read('miss') };
  };
  const good = token({ jti: 'cache-admission' });
  const [h, p, sig] = good.split('.') as [string, string, string];
  const forged = `${h}.${p}.${sig.slice(0, -4)}${sig.endsWith('AAAA') ? 'BBBB' : 'AAAA'}`;
  const before = await counts();
  for (let i = 0; i < 3; i++) assert.equal((await call(`${t.gw.url}/api/orders`, { headers: bearer(good) })).status, 200);
  for (let i = 0; i < 3; i++) assert.equal((await call(`${t.gw.url}/api/orders`, { headers: bearer(forged) })).status, 401);
  const after = await counts();
  // Each: verified twice (misses), answered from a cache the third time (a hit).
  assert.deepEqual({ hit: after.hit - before.hit, miss: after.miss - before.miss }, { hit: 2, miss: 4 });
});

test('the gateway still serves after every bad input', async () => {
  const res = await call(`${t.gw.url}/api/orders`, { headers: bearer(token()) });
  assert.equal(res.status, 200);
  assert.equal(lastReceived().headers['x-user-id'], 'alice');
});
