import assert from 'node:assert/strict';
import { test } from 'node:test';
import { csrfTokenFor, isValidCsrfToken } from './csrf.js';
import { addressKey, LoginRateLimiter } from './rate-limit.js';
import { PasswordCheckSlots } from './routes.js';

test('per-username limit: refused after N attempts until the window ends', () => {
  let now = 1_000_000;
  const rl = new LoginRateLimiter({ maxAttemptsPerUser: 2, maxAttemptsPerIp: 100, windowSeconds: 60, now: () => now });
  assert.equal(rl.admit('bob', '10.0.0.1'), 0);
  assert.equal(rl.admit('bob', '10.0.0.2'), 0);
  assert.equal(rl.admit('bob', '10.0.0.3'), 60);
  assert.equal(rl.admit('alice', '10.0.0.3'), 0);
  now += 61_000;
  assert.equal(rl.admit('bob', '10.0.0.3'), 0);
});

test('attempts are counted when admitted: parallel guesses cannot all pass before the first failure is known', () => {
  const rl = new LoginRateLimiter({ maxAttemptsPerUser: 5, maxAttemptsPerIp: 1000, windowSeconds: 60, now: () => 0 });
  // Fifty attempts admitted in a row, none finished yet (no success or failure reported).
  const admitted = Array.from({ length: 50 }, (_, i) => rl.admit('bob', `10.0.${i}.1`)).filter((wait) => wait === 0);
  assert.equal(admitted.length, 5);
});

test('a username is counted in the store spelling: fullwidth and mathematical letters share its count', () => {
  const rl = new LoginRateLimiter({ maxAttemptsPerUser: 2, maxAttemptsPerIp: 1000, windowSeconds: 60, now: () => 0 });
  assert.equal(rl.admit('alice', '10.0.0.1'), 0);
  assert.equal(rl.admit('\uff41lice', '10.0.0.2'), 0);
  assert.ok(rl.admit('\u{1d41a}lice', '10.0.0.3') > 0);
  // A name the store refuses (control character) is still counted, as sent.
  assert.equal(rl.admit('eve\u0000', '10.0.0.4'), 0);
  assert.equal(rl.admit('eve\u0000', '10.0.0.5'), 0);
  assert.ok(rl.admit('eve\u0000', '10.0.0.6') > 0);
});

test('per-IP limit: spraying many usernames from one address is refused; IPv6 counts per /64', () => {
  const rl = new LoginRateLimiter({ maxAttemptsPerUser: 100, maxAttemptsPerIp: 3, windowSeconds: 60, now: () => 0 });
  for (const u of ['a', 'b', 'c']) assert.equal(rl.admit(u, '192.0.2.7'), 0);
  assert.ok(rl.admit('d', '192.0.2.7') > 0);
  assert.equal(rl.admit('d', '192.0.2.8'), 0);
  for (const ip of ['2001:db8:1:2::1', '2001:db8:1:2:ffff::9', '2001:0db8:0001:0002:aaaa:bbbb:cccc:dddd']) assert.equal(rl.admit(`u-${ip}`, ip), 0);
  assert.ok(rl.admit('e', '2001:db8:1:2:1:2:3:4') > 0, 'a fourth address of the same /64');
  assert.equal(rl.admit('e', '2001:db8:1:3::1'), 0, 'the next /64 is another client');
});

test('addressKey: IPv4 as is, IPv4-mapped as IPv4, IPv6 as its /64 in one spelling', () => {
  assert.equal(addressKey('192.0.2.1'), '192.0.2.1');
  assert.equal(addressKey('::ffff:192.0.2.1'), '192.0.2.1');
  assert.equal(addressKey('2001:DB8::1'), '2001:db8:0:0::/64');
  assert.equal(addressKey('2001:0db8:0000:0000:0000:0000:0000:0001'), '2001:db8:0:0::/64');
  assert.equal(addressKey('::1'), '0:0:0:0::/64');
  assert.equal(addressKey('fe80:1:2:3:4::'), 'fe80:1:2:3::/64');
  assert.equal(addressKey('unknown'), 'unknown');
});

test('success clears the username count and gives the address its attempt back, no more', () => {
  const rl = new LoginRateLimiter({ maxAttemptsPerUser: 1, maxAttemptsPerIp: 2, windowSeconds: 60, now: () => 0 });
  assert.equal(rl.admit('mallory', '192.0.2.1'), 0); // a failure: stays counted
  assert.equal(rl.admit('bob', '192.0.2.1'), 0);
  rl.succeeded('bob', '192.0.2.1');
  assert.equal(rl.admit('bob', '192.0.2.1'), 0, 'the success took its attempt back');
  rl.succeeded('bob', '192.0.2.1');
  assert.equal(rl.admit('carol', '192.0.2.1'), 0);
  assert.ok(rl.admit('dave', '192.0.2.1') > 0, "mallory's failure and carol's attempt fill the address");
});

test('the maps are bounded: the oldest keys are evicted', () => {
  const rl = new LoginRateLimiter({ maxAttemptsPerUser: 1, maxAttemptsPerIp: 1000, windowSeconds: 60, maxEntries: 10, now: () => 0 });
  for (let i = 0; i < 50; i++) rl.admit(`user-${i}`, `ip-${i}`);
  assert.equal(rl.admit('user-0', 'x'), 0, 'evicted');
  assert.ok(rl.admit('user-49', 'y') > 0, 'recent one kept');
});

test('a lockout survives a flood of other keys: made-up usernames and fresh addresses cannot evict it within its window', () => {
  let now = 0;
  const rl = new LoginRateLimiter({ maxAttemptsPerUser: 3, maxAttemptsPerIp: 3, windowSeconds: 60, maxEntries: 10, now: () => now });
  for (let i = 0; i < 3; i++) assert.equal(rl.admit('alice', `198.51.100.${i}`), 0);
  for (let i = 0; i < 3; i++) assert.equal(rl.admit(`u${i}`, '203.0.113.5'), 0);
  assert.ok(rl.admit('alice', '192.0.2.99') > 0, 'alice is locked');
  assert.ok(rl.admit('zed', '203.0.113.5') > 0, 'the address is locked');
  for (let i = 0; i < 100; i++) rl.admit(`made-up-${i}`, `192.0.2.${i}`);
  assert.ok(rl.admit('alice', '192.0.2.200') > 0, 'alice is still locked');
  assert.ok(rl.admit('zed', '203.0.113.5') > 0, 'the address is still locked');
  now = 61_000;
  assert.equal(rl.admit('alice', '192.0.2.201'), 0, 'the window ended');
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

test('PasswordCheckSlots: bounded; a turned-away sign-in is reported at most every 10 s, with the count since the last report', () => {
  let now = 0;
  const slots = new PasswordCheckSlots(2, () => now);
  assert.equal(slots.tryTake(), true);
  assert.equal(slots.tryTake(), true);
  assert.equal(slots.tryTake(), false);
  assert.equal(slots.turnAway(), 1, 'the first is reported');
  for (let i = 0; i < 5; i++) assert.equal(slots.turnAway(), undefined);
  now = 10_000;
  assert.equal(slots.turnAway(), 6, 'then the count, once the interval passed');
  slots.release();
  assert.equal(slots.tryTake(), true, 'a released slot is taken again');
});
