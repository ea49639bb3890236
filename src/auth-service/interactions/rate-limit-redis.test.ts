import assert from 'node:assert/strict';
import { hash, randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { connect, createServer, type Socket } from 'node:net';
import { test } from 'node:test';
import { Redis } from 'ioredis';
import { csrfFromPage, openLoginPage, startTestAuthService, submitForm, type TestAuthService } from '../../../test/helpers/auth-service.js';
import { freePort } from '../../../test/helpers/ports.js';
import { scanKeys } from '../../../test/helpers/sessions.js';
import { startAuthService } from '../index.js';
import { loginRateLimitKeys, RedisLoginRateLimiter } from './rate-limit-redis.js';

// The real Redis: a missing server fails these tests, it never skips them.
const url = process.env.GATEHOUSE_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const SECRET = 'k'.repeat(40);

async function openLimiter(t: { after(fn: () => Promise<void>): void }, limits: { maxAttemptsPerUser: number; maxAttemptsPerIp: number; windowSeconds: number }) {
  const keyPrefix = `gh-test-ratelimit:${randomBytes(6).toString('hex')}:`;
  const redis = new Redis(url);
  t.after(async () => {
    const keys = await scanKeys(redis, keyPrefix);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });
  return { redis, keyPrefix, limiter: new RedisLoginRateLimiter(redis, { ...limits, keyPrefix, secret: SECRET }) };
}

/** One sign-in attempt (a wrong password by default) on the instance at `base`: the status of the form post. */
async function guess(auth: TestAuthService, base: string, password = 'wrong-password'): Promise<{ status: number; retryAfter: string | null }> {
  const page = await openLoginPage(base, auth.clients.web.clientId);
  const res = await submitForm(page.action, page.jar, { csrf: csrfFromPage(page.html) as string, username: auth.user.username, password });
  return { status: res.status, retryAfter: res.headers.get('retry-after') };
}

test('redis store: instances sharing it share the login rate limit (N instances do not give N times the guesses)', async (t) => {
  const auth = await startTestAuthService({ store: 'redis', overrides: { login: { maxAttemptsPerUser: 3, maxAttemptsPerIp: 100 } } });
  t.after(() => auth.close());
  const second = await startAuthService({ ...auth.config, listen: { host: '127.0.0.1', port: 0 } });
  t.after(() => second.close());
  for (let i = 0; i < 3; i++) assert.equal((await guess(auth, auth.issuer)).status, 401, `failure ${i + 1} on the first instance`);
  const refused = await guess(auth, second.url, auth.user.password);
  assert.equal(refused.status, 429, 'the first attempt on the second instance, even with the right password');
  assert.ok(Number(refused.retryAfter) > 0 && Number(refused.retryAfter) <= 300, String(refused.retryAfter));
});

test('redis limiter: per-username and per-address limits, windows, and a success, as the in-process one counts them', async (t) => {
  const { redis, keyPrefix, limiter } = await openLimiter(t, { maxAttemptsPerUser: 2, maxAttemptsPerIp: 3, windowSeconds: 60 });
  assert.equal(await limiter.admit('bob', '10.0.0.1'), 0);
  // The window opens at the first count, and a later count does not move it.
  await new Promise((resolve) => setTimeout(resolve, 1100));
  assert.equal(await limiter.admit('\uff42ob', '10.0.0.2'), 0, 'another spelling of the name, same count');
  const [userKey] = loginRateLimitKeys(keyPrefix, SECRET, 'bob', '10.0.0.3');
  assert.ok((await redis.pttl(userKey)) < 59_000, 'the window opened at the first count, not the second');
  const wait = await limiter.admit('bob', '10.0.0.3');
  // At most the window less the second waited above; the lower bound only says it is a real wait.
  assert.ok(wait > 30 && wait <= 59, String(wait));
  assert.equal(await redis.get(userKey), '2', 'a refused attempt is not counted');

  // Per address: three names from one /64, the fourth refused.
  for (const name of ['u1', 'u2', 'u3']) assert.equal(await limiter.admit(name, '2001:db8::1'), 0);
  assert.ok((await limiter.admit('u4', '2001:db8::ffff')) > 0);
  // A right password clears the name and gives the address one attempt back.
  await limiter.succeeded('u3', '2001:db8::1');
  assert.equal(await limiter.admit('u3', '2001:db8::2'), 0);
  assert.ok((await limiter.admit('u5', '2001:db8::2')) > 0);

  const stored = (await scanKeys(redis, keyPrefix)).join(' ');
  assert.doesNotMatch(stored, /bob|u3|2001/, 'names and addresses are stored hashed');
});

test('redis limiter: a success counting an address back to zero keeps its window; the keys are keyed hashes', async (t) => {
  const { redis, keyPrefix, limiter } = await openLimiter(t, { maxAttemptsPerUser: 5, maxAttemptsPerIp: 5, windowSeconds: 60 });
  assert.equal(await limiter.admit('carol', '192.0.2.7'), 0);
  await new Promise((resolve) => setTimeout(resolve, 1100));
  await limiter.succeeded('carol', '192.0.2.7');
  assert.equal(await limiter.admit('dave', '192.0.2.7'), 0);
  const [, ipKey] = loginRateLimitKeys(keyPrefix, SECRET, 'dave', '192.0.2.7');
  assert.equal(await redis.get(ipKey), '1');
  assert.ok((await redis.pttl(ipKey)) < 59_000, 'the window of the first count runs on, as in the in-process limiter');
  // Not a plain digest of the address, which anyone reading the store could undo by trying every address.
  const plain = hash('sha256', '192.0.2.7', 'base64url');
  assert.ok(!(await scanKeys(redis, keyPrefix)).some((k) => k.endsWith(plain)));
  assert.notEqual(loginRateLimitKeys(keyPrefix, 'another secret', 'dave', '192.0.2.7')[1], ipKey);
});

test('redis limiter: an unreachable Redis rejects (the form then refuses the attempt), it does not admit', async () => {
  const redis = new Redis(`redis://127.0.0.1:${await freePort()}`, { lazyConnect: true, maxRetriesPerRequest: 1, enableOfflineQueue: true });
  redis.on('error', () => {});
  try {
    const limiter = new RedisLoginRateLimiter(redis, { maxAttemptsPerUser: 5, maxAttemptsPerIp: 20, windowSeconds: 60, keyPrefix: 'gh-test-unreachable:', secret: SECRET });
    await assert.rejects(limiter.admit('bob', '10.0.0.1'));
  } finally {
    redis.disconnect();
  }
});

test('redis store: when the rate limit cannot be counted, the login form answers 503 and checks no password', async (t) => {
  const auth = await startTestAuthService({ store: 'redis' });
  t.after(() => auth.close());
  assert.equal(auth.config.store.kind, 'redis');
  const redis = new Redis(url);
  t.after(async () => redis.disconnect());
  // A value the counter script cannot increment: Redis answers its round trip with an error.
  const [userKey] = loginRateLimitKeys(auth.config.store.kind === 'redis' ? auth.config.store.keyPrefix : '', auth.config.cookieKeys[0] as string, auth.user.username, '127.0.0.1');
  await redis.hset(userKey, 'not', 'a counter');
  const res = await guess(auth, auth.issuer, auth.user.password);
  assert.equal(res.status, 503, 'the right password does not sign in uncounted');
  assert.equal(res.retryAfter, '5');
});

test('redis store: Redis gone after the login page loaded: the form answers 503 with Retry-After, not "sign-in expired"', async (t) => {
  // A TCP relay in front of the real Redis, cut once the page has loaded.
  const relayed = new Set<Socket>();
  let open = true;
  const relay = createServer((client) => {
    if (!open) return client.destroy();
    const upstream = connect(Number(new URL(url).port || 6379), new URL(url).hostname);
    for (const s of [client, upstream]) {
      relayed.add(s);
      s.on('error', () => {});
      s.on('close', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
  const started: { auth?: Awaited<ReturnType<typeof startTestAuthService>> } = {};
  // One hook, in this order (node:test runs hooks in the order they were added): the service
  // deletes its keys through the relay, reopened, and only then does the relay close.
  t.after(async () => {
    open = true;
    await started.auth?.close();
    await new Promise<void>((resolve) => relay.close(() => resolve()));
  });
  const auth = (started.auth = await startTestAuthService({ store: 'redis', redisUrl: `redis://127.0.0.1:${(relay.address() as AddressInfo).port}` }));
  const page = await openLoginPage(auth.issuer, auth.clients.web.clientId);
  assert.equal(page.status, 200);
  open = false;
  for (const s of relayed) s.destroy();
  const res = await submitForm(page.action, page.jar, { csrf: csrfFromPage(page.html) as string, username: auth.user.username, password: auth.user.password });
  assert.equal(res.status, 503, res.html.replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ').slice(0, 200));
  assert.equal(res.headers.get('retry-after'), '5');
  assert.match(res.html, /unavailable/i);
});
