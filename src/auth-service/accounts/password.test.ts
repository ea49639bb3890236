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
