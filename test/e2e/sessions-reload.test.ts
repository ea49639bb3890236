import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { Redis } from 'ioredis';
import { setTimeout as sleep } from 'node:timers/promises';
import { offsetClock, rawRequest, startSessionStack, type SessionStack } from '../helpers/session-stack.js';
import { deletePrefix, DisposableRedis, randomPrefix, REDIS_URL } from '../helpers/sessions.js';
import { waitUntil } from '../helpers/wait.js';
import { ConfigSchema } from '../../src/config/schema.js';
import { startGateway } from '../../src/gateway.js';
import { refusedPort } from '../helpers/upstream.js';
import type { CookieJar } from '../helpers/auth-service.js';

// A reload that changes the `sessions` section (a key rotation, as docs/sessions.md prescribes)
// builds a new session runtime. What the sessions live in must not go with the old one.

const newKey = (id: string) => ({ id, secret: randomBytes(32).toString('base64url') });

/** Status and error code of a call to a session route with `jar`'s cookies; keeps any cookie the gateway sets. */
async function call(stack: SessionStack, jar: CookieJar): Promise<string> {
  const r = await rawRequest(`${stack.url}/api/orders`, { headers: { cookie: jar.header() } });
  for (const c of r.setCookies) jar.store(new Response(null, { headers: { 'set-cookie': c } }));
  return r.status === 200 ? '200' : `${r.status} ${String(r.json().code)}`;
}

for (const mode of ['stateful', 'stateless'] as const) {
  test(`${mode}, memory store: a key rotation keeps every session, and a logged-out session stays logged out`, async (t) => {
    const k1 = newKey('k1');
    const stack = await startSessionStack({ mode, keys: [k1] });
    t.after(() => stack.close());
    const stays = await stack.login();
    const leaves = await stack.login();
    // A copy of the leaving session's cookies, as an attacker who stole them would keep it.
    const stolen = leaves.jar.header();
    const logout = await rawRequest(`${stack.url}/auth/logout`, { method: 'POST', headers: { cookie: stolen, origin: stack.url } });
    assert.equal(logout.status, 200);

    await stack.reloadSessions({ keys: [newKey('k2'), k1] });

    assert.equal(await call(stack, stays.jar), '200', 'a session logged in before the rotation still works');
    const replayed = await rawRequest(`${stack.url}/api/orders`, { headers: { cookie: stolen } });
    assert.equal(replayed.status, 401, 'the logged-out session stays logged out');
  });
}

for (const clientLeaves of [false, true]) {
  const title = clientLeaves
    ? 'a refresh under way when a reload replaces the session store, its client gone, still finishes on its store; the session lives on'
    : 'a refresh under way when a reload replaces the session store finishes on the store it started with; the session lives on';
  test(title, async (t) => {
    const prefix = randomPrefix('reload');
    t.after(() => deletePrefix(REDIS_URL, prefix));
    const clock = offsetClock();
    const store = { kind: 'redis' as const, url: REDIS_URL, prefix };
    const stack = await startSessionStack({ mode: 'stateful', now: clock.now, store });
    t.after(() => stack.close());
    const { jar } = await stack.login();
    assert.equal(await call(stack, jar), '200');

    clock.advance(301_000); // the access token is due: the next request refreshes it
    // The token endpoint's answer to the refresh grant is held (the provider has rotated) until the
    // reload has landed: the rotation is under way across it.
    const slow = stack.relay.when('refresh_token', { do: 'hold-answer' });
    const leaving = new AbortController();
    const spanning = fetch(`${stack.url}/api/orders`, { headers: { cookie: jar.header() }, signal: leaving.signal }).then(
      async (r) => {
        for (const c of r.headers.getSetCookie()) jar.store(new Response(null, { headers: { 'set-cookie': c } }));
        await r.arrayBuffer();
        return String(r.status);
      },
      () => 'client left',
    );
    await waitUntil(() => slow.matched === 1, 'the refresh is under way');
    // A client that gives up closes its response; the refresh it started goes on.
    if (clientLeaves) leaving.abort();
    // New store settings: the gateway opens another client and lets the old one go once its work has settled.
    await stack.reloadSessions({ store: { ...store, commandTimeoutMs: 1500 } });
    slow.release();
    assert.equal(await spanning, clientLeaves ? 'client left' : '200', 'the request whose refresh spanned the reload');
    // The next request finds the rotation stored, or waits for the refresh under way and adopts it.
    assert.equal(slow.matched, 1, 'the spanning request refreshed, through the slow answer');
    assert.equal(await call(stack, jar), '200', 'the next request, on the new store, finds the rotated tokens');
    assert.equal(stack.refusedRefreshGrants(), 0, 'no refresh token was used twice');
  });
}

test('a reload refused after it opened a new session store closes that store again (its Redis connections go)', async (t) => {
  const redis = await DisposableRedis.start();
  t.after(() => redis.dispose());
  const input = {
    listen: { host: '127.0.0.1', port: 0 },
    admin: { enabled: false },
    logging: { level: 'silent' },
    routes: [{ path: '/app', upstream: 'http://127.0.0.1:9', auth: 'session' }],
    sessions: { publicUrl: 'http://127.0.0.1:8080', provider: { issuer: 'https://idp.example.com', clientId: 'gw', clientSecret: 's3cret' }, keys: [newKey('k1')] },
  };
  const gateway = await startGateway(ConfigSchema.parse(input));
  t.after(() => gateway.close());
  // New store settings, and a provider the session runtime refuses. The schema refuses it too; an
  // embedder calling reload() with a configuration of its own making does not pass through it.
  const next = ConfigSchema.parse({ ...input, sessions: { ...input.sessions, store: { kind: 'redis', url: redis.url, prefix: 'reload:' } } });
  (next.sessions as { provider: { issuer: string } }).provider.issuer = 'http://idp.example.com';
  await assert.rejects(gateway.reload(next), /https/);

  const probe = new Redis(redis.url);
  t.after(() => probe.quit());
  const othersConnected = async () => String(await probe.call('CLIENT', 'LIST')).split('\n').filter((l) => l.includes('addr=')).length - 1;
  let others = await othersConnected();
  for (let i = 0; i < 40 && others > 0; i++) {
    await sleep(50);
    others = await othersConnected();
  }
  assert.equal(others, 0, 'the store opened for the refused configuration is closed');
  const r = await rawRequest(`${gateway.url}/app`);
  assert.equal(r.status, 401, 'the old configuration serves on');
});

test('a reload that opens a session store on a Redis that never answers is refused within its command timeout; the old configuration serves on, ready', async (t) => {
  const prefix = randomPrefix('reload-unreachable');
  t.after(() => deletePrefix(REDIS_URL, prefix));
  const input = {
    listen: { host: '127.0.0.1', port: 0 },
    admin: { enabled: true, host: '127.0.0.1', port: 0 },
    logging: { level: 'silent' },
    routes: [{ path: '/app', upstream: 'http://127.0.0.1:9', auth: 'session' }],
    sessions: { publicUrl: 'http://127.0.0.1:8080', provider: { issuer: 'https://idp.example.com', clientId: 'gw', clientSecret: 's3cret' }, keys: [newKey('k1')] },
  };
  const gateway = await startGateway(ConfigSchema.parse(input));
  t.after(() => gateway.close());
  const readyz = async () => (await rawRequest(`${gateway.adminUrl}/readyz`)).status;
  assert.equal(await readyz(), 200);
  const unreachable = { kind: 'redis', url: `redis://127.0.0.1:${await refusedPort()}`, prefix, commandTimeoutMs: 300 };
  await assert.rejects(gateway.reload(ConfigSchema.parse({ ...input, sessions: { ...input.sessions, store: unreachable } })), /sessions\.store: Redis did not answer within 300 ms/);
  assert.equal(await readyz(), 200, 'still ready: the refused store never went live');
  assert.equal((await rawRequest(`${gateway.url}/app`)).status, 401, 'the old configuration serves on');
  // A Redis that answers: the same change applies.
  await gateway.reload(ConfigSchema.parse({ ...input, sessions: { ...input.sessions, store: { ...unreachable, url: REDIS_URL } } }));
  assert.equal(await readyz(), 200);
});
