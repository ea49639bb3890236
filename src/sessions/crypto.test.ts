import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { GatehouseError } from '../errors.js';
import { isSessionIdShape, Keyring, newSessionId, openRecord, ownerKeyOf, safeEqual, sealRecord, storeKeyOf } from './crypto.js';

const k1 = { id: 'k1', secret: randomBytes(32).toString('base64url') };
const k2 = { id: 'k2', secret: randomBytes(32).toString('base64') };
const invalid = (err: unknown) => err instanceof GatehouseError && err.code === 'GH_SESSION_INVALID' && err.status === 401;

test('session ids are 256-bit base64url, distinct, and the store key is their hash', () => {
  const ids = new Set(Array.from({ length: 1000 }, newSessionId));
  assert.equal(ids.size, 1000);
  const id = [...ids][0];
  assert.match(id, /^[A-Za-z0-9_-]{43}$/);
  assert.equal(Buffer.from(id, 'base64url').length, 32);
  assert.ok(isSessionIdShape(id));
  for (const bad of ['', 'short', `${id}x`, `${id.slice(0, 42)}!`, `${id.slice(0, 42)}=`]) assert.equal(isSessionIdShape(bad), false, bad);
  const key = storeKeyOf(id);
  assert.notEqual(key, id);
  assert.equal(key, storeKeyOf(id), 'deterministic');
  assert.ok(!key.includes(id));
  assert.notEqual(ownerKeyOf('https://a', 'bob'), ownerKeyOf('https://b', 'bob'));
  assert.ok(!ownerKeyOf('https://a', 'bob').includes('bob'));
});

test('records round-trip, and reveal nothing of the plaintext', () => {
  const ring = new Keyring([k1]);
  const sealed = sealRecord(ring, 'sk', '{"refresh_token":"secret-rt"}');
  assert.match(sealed, /^v1\.k1\./);
  assert.ok(!sealed.includes('secret-rt'));
  assert.equal(openRecord(ring, 'sk', sealed), '{"refresh_token":"secret-rt"}');
  assert.notEqual(sealRecord(ring, 'sk', 'x'), sealRecord(ring, 'sk', 'x'), 'fresh iv each time');
});

test('key rotation: the current key encrypts, old keys still decrypt, dropped keys do not', () => {
  const old = new Keyring([k1]);
  const sealedOld = sealRecord(old, 'sk', 'old');
  const rotated = new Keyring([k2, k1]);
  assert.equal(openRecord(rotated, 'sk', sealedOld), 'old');
  assert.match(sealRecord(rotated, 'sk', 'new'), /^v1\.k2\./);
  const retired = new Keyring([k2]);
  assert.throws(() => openRecord(retired, 'sk', sealedOld), invalid);
});

test('tampering, another store key, or a malformed record is GH_SESSION_INVALID', () => {
  const ring = new Keyring([k1]);
  const sealed = sealRecord(ring, 'sk', 'payload');
  const parts = sealed.split('.');
  const flip = (s: string) => (s[0] === 'A' ? 'B' : 'A') + s.slice(1);
  const cases = [
    [parts[0], parts[1], parts[2], flip(parts[3]), parts[4]].join('.'),
    [parts[0], parts[1], parts[2], parts[3], flip(parts[4])].join('.'),
    [parts[0], parts[1], flip(parts[2]), parts[3], parts[4]].join('.'),
    [parts[0], 'k9', parts[2], parts[3], parts[4]].join('.'),
    ['v2', ...parts.slice(1)].join('.'),
    parts.slice(0, 4).join('.'),
    '',
    'garbage',
  ];
  for (const c of cases) assert.throws(() => openRecord(ring, 'sk', c), invalid, c);
  assert.throws(() => openRecord(ring, 'other-store-key', sealed), invalid, 'AAD binds the store key');
});

test('keyring validates ids and key lengths; derive separates purposes', () => {
  assert.throws(() => new Keyring([]), RangeError);
  assert.throws(() => new Keyring([{ id: 'bad id', secret: k1.secret }]), RangeError);
  assert.throws(() => new Keyring([{ id: 'k', secret: randomBytes(16).toString('base64url') }]), RangeError);
  assert.throws(() => new Keyring([k1, { ...k2, id: 'k1' }]), RangeError);
  const ring = new Keyring([k1, k2]);
  const a = ring.derive('store');
  const b = ring.derive('cookie');
  assert.equal(a.currentId, 'k1');
  assert.ok(!a.current.key.equals(b.current.key));
  assert.ok(!a.current.key.equals(ring.current.key));
  assert.ok(a.key('k2'));
  assert.equal(safeEqual('abc', 'abc'), true);
  assert.equal(safeEqual('abc', 'abd'), false);
  assert.equal(safeEqual('abc', 'abcd'), false);
});
