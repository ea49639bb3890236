import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, test } from 'node:test';
import { storeKeyOf } from '../../src/sessions/crypto.js';
import { CachedSessionStore } from '../../src/sessions/redis/cached-store.js';
import { RedisSessionStore } from '../../src/sessions/redis/redis-store.js';
import { deletePrefix, randomPrefix, REDIS_URL } from '../helpers/sessions.js';
import { rawRequest, startSessionStack } from '../helpers/session-stack.js';

const prefix = randomPrefix('e2e-cache');
after(() => deletePrefix(REDIS_URL, prefix));

const apiCall = (url: string, cookie: string) => rawRequest(`${url}/api/orders`, { headers: { cookie } });

/** Resolves when `store` has evicted `key` on an invalidation message. */
function invalidationOf(store: CachedSessionStore, key: string): Promise<void> {
  return new Promise((resolve) => {
    const on = (k: string) => {
      if (k !== key) return;
      store.off('invalidated', on);
      resolve();
    };
    store.on('invalidated', on);
  });
}

/** Two gateways on one Redis, each with its own local session cache. */
async function twoCachedGateways(t: { after(fn: () => Promise<void>): void }) {
  const stores: CachedSessionStore[] = [];
  for (let i = 0; i < 2; i++) {
    const store = new CachedSessionStore(await RedisSessionStore.connect(REDIS_URL, { prefix }), { maxEntries: 1000, ttlMs: 60_000 });
    if (!store.isSubscribed) await once(store, 'subscribed');
    stores.push(store);
  }
  t.after(async () => {
    for (const s of stores) await s.close();
  });
  const stack = await startSessionStack({ mode: 'stateful', instances: 2, store: { kind: 'redis', url: REDIS_URL, prefix }, sessionStores: stores });
  t.after(() => stack.close());
  const [a, b] = stack.urls as [string, string];
  const [storeA, storeB] = stores as [CachedSessionStore, CachedSessionStore];
  return { stack, a, b, storeA, storeB };
}

/** The store key of the jar's session cookie. */
function sessionKey(cookieHeader: string): string {
  const id = /__Host-gh_sid=([^;]+)/.exec(cookieHeader)?.[1];
  assert.ok(id, 'the jar holds a session cookie');
  return storeKeyOf(id);
}

/** Sends requests to `url` until its store answers the session from its cache (the login's own invalidation may arrive after the first read). */
async function cachedOn(url: string, store: CachedSessionStore, cookie: string): Promise<void> {
  const key = sessionKey(cookie);
  for (let i = 0; i < 20 && !store.isCached(key); i++) assert.equal((await apiCall(url, cookie)).status, 200);
  assert.ok(store.isCached(key), 'the session is served from the local cache');
}

test('cached Redis store: logout on instance A rejects the cookie on instance B once the invalidation arrives', async (t) => {
  const { stack, a, b, storeA, storeB } = await twoCachedGateways(t);
  const { jar } = await stack.login();
  const cookie = jar.header();
  await cachedOn(b, storeB, cookie);
  await cachedOn(a, storeA, cookie);

  const key = sessionKey(cookie);
  const heard = invalidationOf(storeB, key);
  const logout = await rawRequest(`${a}/auth/logout`, { method: 'POST', headers: { cookie, origin: stack.url } });
  assert.ok(logout.status < 400, `logout: ${logout.status}`);
  await heard;
  const onB = await apiCall(b, cookie);
  assert.equal(onB.status, 401);
  assert.equal(onB.json().code, 'GH_SESSION_EXPIRED');
  const onA = await apiCall(a, cookie);
  assert.equal(onA.status, 401, 'and on A, at once');
  assert.equal((await rawRequest(`${b}/public/x`)).status, 200, 'B still serves');
});

test('cached Redis store: "end other sessions" on A ends the other session on B', async (t) => {
  const { stack, a, b, storeB } = await twoCachedGateways(t);
  const { jar: mine } = await stack.login();
  const { jar: other } = await stack.login();
  await cachedOn(b, storeB, other.header());

  const heard = invalidationOf(storeB, sessionKey(other.header()));
  const ended = await rawRequest(`${a}/auth/sessions`, { method: 'DELETE', headers: { cookie: mine.header(), origin: stack.url } });
  assert.ok(ended.status < 400, `end others: ${ended.status}`);
  await heard;
  assert.equal((await apiCall(b, other.header())).status, 401);
  assert.equal((await apiCall(b, mine.header())).status, 200, 'the current session lives on');
});
