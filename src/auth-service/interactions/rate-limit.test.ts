import assert from 'node:assert/strict';
import { test } from 'node:test';
import { csrfTokenFor, isValidCsrfToken } from './csrf.js';
import { LoginRateLimiter } from './rate-limit.js';

test('per-username limit: refused after N failures until the window ends', () => {
  let now = 1_000_000;
  const rl = new LoginRateLimiter({ maxAttemptsPerUser: 2, maxAttemptsPerIp: 100, windowSeconds: 60, now: () => now });
  assert.equal(rl.retryAfterSeconds('bob', '10.0.0.1'), 0);
  rl.recordFailure('bob', '10.0.0.1');
  rl.recordFailure('bob', '10.0.0.2');
  assert.equal(rl.retryAfterSeconds('bob', '10.0.0.3'), 60);
  assert.equal(rl.retryAfterSeconds('alice', '10.0.0.3'), 0);
  now += 61_000;
  assert.equal(rl.retryAfterSeconds('bob', '10.0.0.3'), 0);
});

test('per-IP limit: spraying many usernames from one address is refused', () => {
  const rl = new LoginRateLimiter({ maxAttemptsPerUser: 100, maxAttemptsPerIp: 3, windowSeconds: 60, now: () => 0 });
  for (const u of ['a', 'b', 'c']) rl.recordFailure(u, '192.0.2.7');
  assert.ok(rl.retryAfterSeconds('d', '192.0.2.7') > 0);
  assert.equal(rl.retryAfterSeconds('d', '192.0.2.8'), 0);
});

test('success clears the username count but not the IP count', () => {
  const rl = new LoginRateLimiter({ maxAttemptsPerUser: 1, maxAttemptsPerIp: 1, windowSeconds: 60, now: () => 0 });
  rl.recordFailure('bob', '192.0.2.1');
  rl.recordSuccess('bob');
  assert.equal(rl.retryAfterSeconds('bob', '192.0.2.2'), 0);
  assert.ok(rl.retryAfterSeconds('bob', '192.0.2.1') > 0);
});

test('the maps are bounded: the oldest keys are evicted', () => {
  const rl = new LoginRateLimiter({ maxAttemptsPerUser: 1, maxAttemptsPerIp: 1000, windowSeconds: 60, maxEntries: 10, now: () => 0 });
  for (let i = 0; i < 50; i++) rl.recordFailure(`user-${i}`, `ip-${i}`);
  assert.equal(rl.retryAfterSeconds('user-0', 'x'), 0, 'evicted');
  assert.ok(rl.retryAfterSeconds('user-49', 'x') > 0, 'recent one kept');
});

test('CSRF tokens are bound to the interaction and the key', () => {
  const key = 'k'.repeat(32);
  const token = csrfTokenFor('uid-1', key);
  assert.equal(isValidCsrfToken(token, 'uid-1', key), true);
  assert.equal(isValidCsrfToken(token, 'uid-2', key), false);
  assert.equal(isValidCsrfToken(token, 'uid-1', 'j'.repeat(32)), false);
  assert.equal(isValidCsrfToken(undefined, 'uid-1', key), false);
  assert.equal(isValidCsrfToken('', 'uid-1', key), false);
  assert.equal(isValidCsrfToken(token.slice(1), 'uid-1', key), false);
});
