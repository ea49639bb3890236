import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hashPassword, verifyPassword } from './password.js';

const FAST = { N: 1024, r: 8, p: 1, keyLength: 32 };

test('hash stores the scrypt parameters and a per-user salt', async () => {
  const a = await hashPassword('correct horse', FAST);
  const b = await hashPassword('correct horse', FAST);
  assert.match(a, /^scrypt\$1024\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
  assert.notEqual(a, b, 'salted');
});

test('the default parameters meet OWASP\'s scrypt floor (N=2^15, r=8, p=3 or an equivalent)', async () => {
  const [, N, r, p] = (await hashPassword('correct horse battery staple')).split('$').map(Number) as [number, number, number, number];
  // OWASP's equivalents trade memory (N·r) against passes (p): 2^17·8·1 = 2^16·8·2 ≈ 2^15·8·3 …
  assert.ok(r >= 8, `r=${r}`);
  assert.ok(N * r * p >= 2 ** 15 * 8 * 3, `N=${N} r=${r} p=${p}`);
});

test('verify accepts the password and refuses others', async () => {
  const h = await hashPassword('correct horse', FAST);
  assert.equal(await verifyPassword('correct horse', h), true);
  assert.equal(await verifyPassword('correct horsE', h), false);
  assert.equal(await verifyPassword('', h), false);
});

test('hashes made with other parameters still verify (parameters come from the hash)', async () => {
  const h = await hashPassword('pw-12345678', { N: 2048, r: 4, p: 2, keyLength: 48 });
  assert.equal(await verifyPassword('pw-12345678', h), true);
});

test('malformed or hostile hashes are refused, not thrown', async () => {
  for (const bad of ['', 'plain', 'scrypt$1$8$1$c2FsdA$aGFzaA', 'scrypt$4194304$8$1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA', 'bcrypt$x$y$z$a$b']) {
    assert.equal(await verifyPassword('x', bad), false, bad);
  }
});

test('empty and oversized passwords are refused at hashing', async () => {
  await assert.rejects(hashPassword('', FAST));
  await assert.rejects(hashPassword('x'.repeat(2000), FAST));
  const h = await hashPassword('short-ok', FAST);
  assert.equal(await verifyPassword('x'.repeat(2000), h), false);
});
