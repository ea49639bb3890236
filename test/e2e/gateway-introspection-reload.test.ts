import assert from 'node:assert/strict';
import { after, before, beforeEach, test } from 'node:test';
import { validateConfig } from '../../src/config/load.js';
import { call, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { startIntrospectionStub, type IntrospectionStub } from '../helpers/introspection.js';
import { waitUntil } from '../helpers/wait.js';
import { startEchoUpstream, type EchoUpstream } from '../helpers/upstream.js';

/*
 * A configuration reload and the introspection client: the real gateway against
 * a real loopback RFC 7662 endpoint, reloaded through Gateway.reload.
 */

let stub: IntrospectionStub;
let upstream: EchoUpstream;
let gw: TestGateway;

function config(opts: { extraRoute?: boolean; cacheMaxAge?: string } = {}): Record<string, unknown> {
  return {
    listen: { host: '127.0.0.1', port: 0 },
    admin: { enabled: false },
    security: {
      introspection: {
        endpoint: stub.endpoint,
        clientId: stub.clientId,
        clientSecret: stub.clientSecret,
        audience: 'orders-api',
        timeoutMs: 300,
        cacheMaxAge: opts.cacheMaxAge ?? '5m',
      },
    },
    routes: [
      { path: '/api', upstream: upstream.url, auth: 'opaque' },
      ...(opts.extraRoute ? [{ path: '/public', upstream: upstream.url, auth: 'none' }] : []),
    ],
  };
}

before(async () => {
  stub = await startIntrospectionStub();
  upstream = await startEchoUpstream();
  gw = await startTestGateway(config());
});

after(async () => {
  await gw.close();
  await upstream.close();
  await stub.close();
});

beforeEach(() => {
  stub.mode = 'ok';
});

function issue(token: string): string {
  stub.tokens.set(token, { active: true, sub: 'alice', aud: 'orders-api', exp: Math.floor(Date.now() / 1000) + 3600 });
  return token;
}

const get = (token: string) => call(`${gw.gw.url}/api/orders`, { headers: { authorization: `Bearer ${token}` } });
/** Lets a replaced configuration retire (it has no request running, so it closes at once). */
const settle = () => new Promise((r) => setImmediate(r));

test('a reload that keeps security.introspection keeps the cache: a cached token passes while the endpoint is down', async () => {
  const token = issue('tok-reload-cached');
  assert.equal((await get(token)).status, 200);
  assert.equal(stub.requests, 1);

  stub.mode = '500';
  assert.equal((await get(token)).status, 200, 'cached before the reload');
  await gw.gw.reload(validateConfig(config({ extraRoute: true })));
  await settle();
  const res = await get(token);
  assert.equal(res.status, 200, `cached after a reload that only added a public route: ${res.text}`);
  assert.equal(stub.requests, 1, 'the endpoint was not asked again');

  // The replaced configuration has closed its hold; the client it shared must still work.
  stub.mode = 'ok';
  assert.equal((await get(issue('tok-after-reload'))).status, 200);
  assert.equal(stub.requests, 2);
});

test('a reload that changes security.introspection starts a new cache and closes the old client', async () => {
  const token = issue('tok-reload-changed');
  assert.equal((await get(token)).status, 200);
  const before = stub.requests;
  await gw.gw.reload(validateConfig(config({ extraRoute: true, cacheMaxAge: '1m' })));
  await settle();
  // The old client's pool closes its connections; the new one has not connected yet. (Neither side
  // drops an idle connection on its own this soon: the stub keeps them a minute, the client 10 s.)
  await waitUntil(() => stub.connections === 0, "the old client's connections closing", 5000);
  assert.equal((await get(token)).status, 200);
  assert.equal(stub.requests, before + 1, 'asked again under the new settings');
});
