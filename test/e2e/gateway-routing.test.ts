import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { generateTestKey, mintToken, startJwksServer, testIssuerOptions, type JwksServer, type TestKey } from '../helpers/jwt.js';
import { call, rawGet, rawRequest, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { startEchoUpstream, type EchoRecord, type EchoUpstream } from '../helpers/upstream.js';

const ISS = 'https://issuer.test';

let publicUp: EchoUpstream;
let protectedUp: EchoUpstream;
let hostUp: EchoUpstream;
let jwks: JwksServer;
let key: TestKey;
let t: TestGateway;

before(async () => {
  publicUp = await startEchoUpstream();
  protectedUp = await startEchoUpstream();
  hostUp = await startEchoUpstream();
  key = generateTestKey('RS256');
  jwks = await startJwksServer([key]);
  t = await startTestGateway({
    security: { jwt: testIssuerOptions({ issuer: ISS, jwksUri: jwks.uri }) },
    routes: [
      { path: '/public', upstream: publicUp.url, auth: 'none' },
      { path: '/api/orders', upstream: protectedUp.url, scopes: ['orders:read'] },
      { path: '/readonly', upstream: publicUp.url, auth: 'none', methods: ['GET', 'POST'] },
      { path: '/hosted', upstream: hostUp.url, auth: 'none', host: '*.tenant.test' },
      { name: 'based', path: '/based', upstream: `${publicUp.url}/base/`, auth: 'none' },
    ],
  });
});

after(async () => {
  await t.close();
  await Promise.all([publicUp.close(), protectedUp.close(), hostUp.close(), jwks.close()]);
});

const validToken = () => mintToken(key, { iss: ISS, aud: 'api', sub: 'alice', scope: 'orders:read' });

/**
 * Every spelling that could reach /api/orders through /public. Each must either be
 * rejected, find no route, or be matched (and forwarded) as the protected route it
 * really is — where it then needs a token.
 */
const SPELLINGS: [string, number, string][] = [
  ['/public/../api/orders', 401, 'GH_TOKEN_MISSING'],
  ['/public/%2e%2e/api/orders', 401, 'GH_TOKEN_MISSING'],
  ['/public/%2E%2E/api/orders', 401, 'GH_TOKEN_MISSING'],
  ['/public/.%2e/api/orders', 401, 'GH_TOKEN_MISSING'],
  ['/public/./../api/orders', 401, 'GH_TOKEN_MISSING'],
  ['/public/x/../../api/orders', 401, 'GH_TOKEN_MISSING'],
  ['/%2e%2e/api/orders', 401, 'GH_TOKEN_MISSING'],
  ['//api//orders', 401, 'GH_TOKEN_MISSING'],
  ['/api/./orders', 401, 'GH_TOKEN_MISSING'],
  ['/%61pi/orders', 401, 'GH_TOKEN_MISSING'],
  ['/API/orders', 401, 'GH_TOKEN_MISSING'],
  ['/Api/Orders/1', 401, 'GH_TOKEN_MISSING'],
  ['/public/../API/ORDERS', 401, 'GH_TOKEN_MISSING'],
  ['/api/orders;x', 400, 'GH_PATH_REJECTED'],
  ['/api;x/orders', 400, 'GH_PATH_REJECTED'],
  ['/public;jsessionid=1/../api/orders', 400, 'GH_PATH_REJECTED'],
  ['/api/ordersX', 404, 'GH_ROUTE_NOT_FOUND'],
  ['/public%2F..%2Fapi%2Forders', 400, 'GH_PATH_REJECTED'],
  ['/public/..%2Fapi/orders', 400, 'GH_PATH_REJECTED'],
  ['/public%2f..%2fapi/orders', 400, 'GH_PATH_REJECTED'],
  ['/public\\..\\api\\orders', 400, 'GH_PATH_REJECTED'],
  ['/public%5C..%5Capi/orders', 400, 'GH_PATH_REJECTED'],
  ['/public/..;/api/orders', 400, 'GH_PATH_REJECTED'],
  ['/public/%2e%2e;x/api/orders', 400, 'GH_PATH_REJECTED'],
  ['/public/%00/../api/orders', 400, 'GH_PATH_REJECTED'],
  ['/public/%0d%0a/api/orders', 400, 'GH_PATH_REJECTED'],
  ['http://gateway.test/api/orders', 400, 'GH_PATH_REJECTED'],
];

test('no spelling of a path slips past the protected route', async () => {
  for (const [path, status, code] of SPELLINGS) {
    const res = await rawRequest(t.gw.url, rawGet(path));
    assert.equal(res.status, status, `${path}: ${res.raw.slice(0, 200)}`);
    assert.equal(res.headers['content-type'], 'application/problem+json', path);
    assert.equal(JSON.parse(res.body).code, code, path);
  }
  assert.equal(protectedUp.received.length, 0, 'nothing reached the protected upstream without a token');
  for (const r of publicUp.received) assert.ok(r.path.startsWith('/public'), r.path);
});

test('behind a public catch-all route to the same service, no spelling, path header or method override reaches the protected prefix', async () => {
  // The layout where a bypass pays: '/' public and '/api/orders' protected, one upstream that, like
  // Express, Tomcat or IIS, might route case-insensitively, drop ;parameters or honour override headers.
  const shared = await startEchoUpstream();
  const gw = await startTestGateway({
    security: { jwt: testIssuerOptions({ issuer: ISS, jwksUri: jwks.uri }) },
    routes: [
      { path: '/', upstream: shared.url, auth: 'none', methods: ['GET'] },
      { path: '/api/orders', upstream: shared.url, scopes: ['orders:read'] },
    ],
  });
  try {
    for (const path of ['/API/orders', '/api/ORDERS/1', '/api/orders;x', '/api;x/orders', '/x/..;/api/orders', '/%41PI/orders']) {
      const res = await rawRequest(gw.gw.url, rawGet(path));
      assert.ok(res.status === 401 || res.status === 400, `${path}: ${res.status}`);
    }
    const overrides = [
      'X-Original-URL: /api/orders',
      'X-Rewrite-URL: /api/orders',
      'X_Original_URL: /api/orders',
      'X-HTTP-Method-Override: DELETE',
      'X-HTTP-Method: DELETE',
      'X-Method-Override: DELETE',
    ];
    const res = await rawRequest(gw.gw.url, rawGet('/home', overrides));
    assert.equal(res.status, 200);
    const got = JSON.parse(res.body) as EchoRecord;
    const names = got.rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase().replaceAll('_', '-'));
    for (const name of ['x-original-url', 'x-rewrite-url', 'x-http-method-override', 'x-http-method', 'x-method-override']) {
      assert.ok(!names.includes(name), `${name} is not forwarded`);
    }
    for (const r of shared.received) {
      const seen = r.path.toLowerCase().replace(/;[^/]*/g, '');
      assert.ok(!seen.startsWith('/api'), `reached the upstream without a token: ${r.path}`);
    }
    assert.equal(shared.received.length, 1, 'only /home was forwarded');
  } finally {
    await gw.close();
    await shared.close();
  }
});

test('routes with `@`, `$`, `:` or non-ASCII in their path: no escaped spelling reaches them through a public catch-all', async () => {
  // Spring, ASP.NET Core, Go and Django decode these escapes before routing: /users/%40me is their /users/@me.
  const shared = await startEchoUpstream();
  const gw = await startTestGateway({
    security: { jwt: testIssuerOptions({ issuer: ISS, jwksUri: jwks.uri }) },
    routes: [
      { path: '/', upstream: shared.url, auth: 'none' },
      { path: '/users/@me', upstream: shared.url, scopes: ['orders:read'] },
      { path: '/odata/$batch', upstream: shared.url, scopes: ['orders:read'] },
      { path: '/v1/orders:cancel', upstream: shared.url, scopes: ['orders:read'] },
      { path: '/caf%C3%A9', upstream: shared.url, scopes: ['orders:read'] },
    ],
  });
  try {
    const spellings = ['/users/%40me', '/users/%40Me/x', '/odata/%24batch', '/odata/%24Batch', '/v1/orders%3Acancel', '/v1/orders%3acancel', '/caf%c3%a9', '/caf%C3%A9'];
    for (const path of spellings) {
      const res = await rawRequest(gw.gw.url, rawGet(path));
      assert.equal(res.status, 401, `${path}: ${res.raw.slice(0, 200)}`);
    }
    assert.deepEqual(shared.received, [], 'nothing reached the upstream without a token');
    const res = await rawRequest(gw.gw.url, rawGet('/users/%40me', [`Authorization: Bearer ${validToken()}`]));
    assert.equal(res.status, 200);
    assert.equal((JSON.parse(res.body) as EchoRecord).path, '/users/@me', 'forwarded as matched');
  } finally {
    await gw.close();
    await shared.close();
  }
});

test('behind a public /api, a format suffix or a trailing dot (Rails, Spring, IIS serve them as the resource) reaches the protected /api/orders, not the public route', async () => {
  const shared = await startEchoUpstream();
  const gw = await startTestGateway({
    security: { jwt: testIssuerOptions({ issuer: ISS, jwksUri: jwks.uri }) },
    routes: [
      { path: '/api', upstream: shared.url, auth: 'none' },
      { path: '/api/orders', upstream: shared.url, scopes: ['orders:read'] },
    ],
  });
  try {
    for (const path of ['/api/orders.json', '/api/orders.xml', '/api/orders.', '/api/orders%2Ejson', '/api/orders%2e', '/API/Orders.JSON', '/api/orders/1.json']) {
      const res = await rawRequest(gw.gw.url, rawGet(path));
      assert.equal(res.status, 401, `${path}: ${res.raw.slice(0, 200)}`);
      assert.equal(JSON.parse(res.body).code, 'GH_TOKEN_MISSING', path);
    }
    assert.deepEqual(shared.received, [], 'nothing reached the upstream without a token');
    // Other names under /api stay public.
    assert.equal((await rawRequest(gw.gw.url, rawGet('/api/ordersX.json'))).status, 200);
    const res = await rawRequest(gw.gw.url, rawGet('/api/orders.json', [`Authorization: Bearer ${validToken()}`]));
    assert.equal(res.status, 200);
    assert.equal((JSON.parse(res.body) as EchoRecord).path, '/api/orders.json', 'forwarded as sent');
  } finally {
    await gw.close();
    await shared.close();
  }
});

test('a route host beyond ASCII is refused at load with its punycode spelling; written so, it matches the Host header browsers send', async () => {
  const refused = await startTestGateway({
    routes: [{ path: '/', upstream: publicUp.url, auth: 'none', host: 'bücher.example' }],
  }).catch((err: unknown) => err);
  if (!(refused instanceof Error)) {
    await (refused as TestGateway).close();
    assert.fail('a gateway with a route host beyond ASCII started');
  }
  assert.match(refused.message, /routes\.0\.host: write the name as the Host header carries it: xn--bcher-kva\.example/);
  const idn = await startEchoUpstream();
  const gw = await startTestGateway({
    routes: [
      { path: '/', upstream: publicUp.url, auth: 'none' },
      { name: 'books', path: '/', upstream: idn.url, auth: 'none', host: 'xn--bcher-kva.example' },
    ],
  }).catch(async (err: unknown) => {
    await idn.close();
    throw err;
  });
  try {
    const res = await rawRequest(gw.gw.url, ['GET /shelf HTTP/1.1', 'Host: XN--BCHER-KVA.example:8080', 'Connection: close', '', ''].join('\r\n'));
    assert.equal(res.status, 200);
    assert.equal(idn.received.length, 1, 'the route of the punycode host answered');
  } finally {
    await gw.close();
    await idn.close();
  }
});

test('route paths that differ only in case (or are repeated) are refused: one of them could never match', async () => {
  const started = await startTestGateway({
    routes: [
      { path: '/api/orders', upstream: publicUp.url, auth: 'none' },
      { path: '/API/Orders/', upstream: protectedUp.url, auth: 'none' },
    ],
  }).catch((err: unknown) => err);
  if (!(started instanceof Error)) {
    await (started as TestGateway).close();
    assert.fail('a gateway with two routes for the same paths started');
  }
  assert.match(started.message, /routes\.1\.path: matches the same requests as routes\.0/);
});

test('an encoded dot-dot that is not decoded stays inside the public route', async () => {
  const res = await rawRequest(t.gw.url, rawGet('/public/%252e%252e/api/orders'));
  assert.equal(res.status, 200);
  assert.equal(JSON.parse(res.body).path, '/public/%252e%252e/api/orders');
});

test('the normalized path is what is forwarded', async () => {
  const tok = validToken();
  const res = await rawRequest(t.gw.url, rawGet('/public/%2e%2e//api/./orders/%7e7?q=%2e%2e', [`Authorization: Bearer ${tok}`]));
  assert.equal(res.status, 200, res.raw.slice(0, 300));
  const got = JSON.parse(res.body) as EchoRecord;
  assert.equal(got.path, '/api/orders/~7');
  assert.equal(got.query, '?q=%2e%2e', 'the query string is forwarded unchanged');
  assert.equal(protectedUp.received.length, 1);
});

test('an upstream base path is prepended', async () => {
  const res = await call(`${t.gw.url}/based/x`);
  assert.equal(res.status, 200);
  assert.equal(res.json<EchoRecord>().path, '/base/based/x');
});

test('methods: 405 with Allow; a _method override parameter is 400 on such a route', async () => {
  const res = await call(`${t.gw.url}/readonly/x`, { method: 'DELETE' });
  assert.equal(res.status, 405);
  assert.equal(res.headers.allow, 'GET, POST, HEAD');
  assert.equal(res.json().code, 'GH_METHOD_NOT_ALLOWED');
  const before = publicUp.received.length;
  // Also every spelling an upstream decodes to `_method`: percent-encoded letters, and the names PHP
  // folds into it (leading spaces dropped, `.`, space and an unmatched `[` read as `_`, `name[]`, a cut at NUL).
  const spellings = ['?_method=DELETE', '?a=1&_METHOD=PUT', '?%5Fmethod=DELETE', '?_%6Dethod=DELETE', '?%5F%6D%65thod=DELETE', '?.method=DELETE'];
  spellings.push('?%20_method=DELETE', '?+_method=DELETE', '?[method=DELETE', '?_method[]=DELETE', '?_method%00x=DELETE', '?a=1;%20%20.method=PUT');
  for (const query of spellings) {
    const overridden = await call(`${t.gw.url}/readonly/x${query}`, { method: 'POST', body: 'x' });
    assert.equal(overridden.status, 400, query);
    assert.equal(overridden.json().code, 'GH_BAD_REQUEST', query);
  }
  assert.equal(publicUp.received.length, before, 'none was forwarded');
  assert.equal((await call(`${t.gw.url}/readonly/x?my_method=1`)).status, 200, 'other names pass');
  assert.equal((await call(`${t.gw.url}/readonly/x?file=a.txt&x%5B0%5D=_method`)).status, 200, 'other names pass');
  assert.equal((await call(`${t.gw.url}/readonly/x`, { method: 'HEAD' })).status, 200, 'HEAD follows GET');
  const post = await call(`${t.gw.url}/readonly/x`, { method: 'POST', body: 'hello' });
  assert.equal(post.status, 200);
  assert.equal(post.json<EchoRecord>().body, 'hello');
});

test('host matching: a wildcard host needs a subdomain', async () => {
  const ok = await rawRequest(t.gw.url, ['GET /hosted/a HTTP/1.1', 'Host: eu.tenant.test:8080', 'Connection: close', '', ''].join('\r\n'));
  assert.equal(ok.status, 200);
  assert.equal(hostUp.received.length, 1);
  const no = await rawRequest(t.gw.url, ['GET /hosted/a HTTP/1.1', 'Host: tenant.test', 'Connection: close', '', ''].join('\r\n'));
  assert.equal(no.status, 404);
  assert.equal(hostUp.received.length, 1);
  // Fully qualified (a final dot): the same host, so the same route.
  const fq = await rawRequest(t.gw.url, ['GET /hosted/a HTTP/1.1', 'Host: EU.tenant.test.:8080', 'Connection: close', '', ''].join('\r\n'));
  assert.equal(fq.status, 200);
  assert.equal(hostUp.received.length, 2);
});

test('no route: 404 problem+json without a challenge', async () => {
  const res = await call(`${t.gw.url}/nowhere`);
  assert.equal(res.status, 404);
  assert.equal(res.headers['content-type'], 'application/problem+json');
  assert.equal(res.json().code, 'GH_ROUTE_NOT_FOUND');
  assert.equal(res.headers['www-authenticate'], undefined);
  assert.match(String(res.headers['x-request-id']), /./);
});

test('still serving after all of it', async () => {
  const res = await call(`${t.gw.url}/api/orders`, { headers: { authorization: `Bearer ${validToken()}` } });
  assert.equal(res.status, 200);
});
