import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { Redis } from 'ioredis';
import * as oidc from 'openid-client';
import { CookieJar, csrfFromPage, startTestAuthService, TEST_REDIRECT_URI, type TestAuthService } from '../../../test/helpers/auth-service.js';
import { freePort } from '../../../test/helpers/ports.js';
import { startAuthService } from '../index.js';
import { loginRateLimitKeys, RedisLoginRateLimiter } from './rate-limit-redis.js';

// The real Redis: a missing server fails these tests, it never skips them.
const url = process.env.GATEHOUSE_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

async function openLimiter(t: { after(fn: () => Promise<void>): void }, limits: { maxAttemptsPerUser: number; maxAttemptsPerIp: number; windowSeconds: number }) {
  const keyPrefix = `gh-test-ratelimit:${randomBytes(6).toString('hex')}:`;
  const redis = new Redis(url);
  t.after(async () => {
    const keys = await redis.keys(`${keyPrefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });
  return { redis, keyPrefix, limiter: new RedisLoginRateLimiter(redis, { ...limits, keyPrefix }) };
}

/** One failed sign-in (wrong password) on the instance at `base`: the status of the form post. */
async function guess(auth: TestAuthService, base: string, password = 'wrong-password'): Promise<{ status: number; retryAfter: string | null }> {
  const jar = new CookieJar();
  const query = new URLSearchParams({
    client_id: auth.clients.web.clientId,
    response_type: 'code',
    redirect_uri: TEST_REDIRECT_URI,
    scope: 'openid',
    code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()),
    code_challenge_method: 'S256',
  });
  const first = await fetch(`${base}/auth?${query}`, { redirect: 'manual' });
  jar.store(first);
  await first.text();
  const page = new URL(new URL(first.headers.get('location') as string, base).pathname, base).href;
  const html = await (await fetch(page, { headers: { cookie: jar.header() } })).text();
  const res = await fetch(`${page}/login`, {
    method: 'POST',
    redirect: 'manual',
    headers: { cookie: jar.header(), 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ csrf: csrfFromPage(html) as string, username: auth.user.username, password }),
  });
  await res.text();
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
  assert.equal(await limiter.admit('\uff42ob', '10.0.0.2'), 0, 'another spelling of the name, same count');
  const wait = await limiter.admit('bob', '10.0.0.3');
  assert.ok(wait > 58 && wait <= 60, String(wait));
  const [userKey] = loginRateLimitKeys(keyPrefix, 'bob', '10.0.0.3');
  assert.ok((await redis.pttl(userKey)) <= 60_000, 'the window opened at the first count');
  assert.equal(await redis.get(userKey), '2', 'a refused attempt is not counted');

  // Per address: three names from one /64, the fourth refused.
  for (const name of ['u1', 'u2', 'u3']) assert.equal(await limiter.admit(name, '2001:db8::1'), 0);
  assert.ok((await limiter.admit('u4', '2001:db8::ffff')) > 0);
  // A right password clears the name and gives the address one attempt back.
  await limiter.succeeded('u3', '2001:db8::1');
  assert.equal(await limiter.admit('u3', '2001:db8::2'), 0);
  assert.ok((await limiter.admit('u5', '2001:db8::2')) > 0);

  const stored = (await redis.keys(`${keyPrefix}*`)).join(' ');
  assert.doesNotMatch(stored, /bob|u3|2001/, 'names and addresses are stored hashed');
});

test('redis limiter: an unreachable Redis rejects (the form then refuses the attempt), it does not admit', async () => {
  const redis = new Redis(`redis://127.0.0.1:${await freePort()}`, { lazyConnect: true, maxRetriesPerRequest: 1, enableOfflineQueue: true });
  redis.on('error', () => {});
  try {
    const limiter = new RedisLoginRateLimiter(redis, { maxAttemptsPerUser: 5, maxAttemptsPerIp: 20, windowSeconds: 60, keyPrefix: 'gh-test-unreachable:' });
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
  const [userKey] = loginRateLimitKeys(auth.config.store.kind === 'redis' ? auth.config.store.keyPrefix : '', auth.user.username, '127.0.0.1');
  await redis.hset(userKey, 'not', 'a counter');
  const res = await guess(auth, auth.issuer, auth.user.password);
  assert.equal(res.status, 503, 'the right password does not sign in uncounted');
  assert.equal(res.retryAfter, '5');
});
