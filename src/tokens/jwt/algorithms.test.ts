import assert from 'node:assert/strict';
import { constants, createHmac, generateKeyPairSync, sign, verify } from 'node:crypto';
import { test } from 'node:test';
import { compactVerify, importJWK, type JWK } from 'jose';
import { generateTestKey, signCompact } from '../../../test/helpers/jwt.js';
import { isSupportedAlgorithm, keyFitsAlgorithm, verifySignature } from './algorithms.js';

const data = Buffer.from('eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0');

test('ECDSA and EdDSA signatures of zeros are rejected by node:crypto, and by jose', async () => {
  for (const [alg, size] of [['ES256', 64], ['ES384', 96], ['EdDSA', 64]] as const) {
    const key = generateTestKey(alg);
    assert.equal(verifySignature(alg, key.publicKey!, data, Buffer.alloc(size)), false, alg);
    // jose (WebCrypto) agrees: the same forgery through its own verify.
    const token = `${data.toString()}.${Buffer.alloc(size).toString('base64url')}`;
    const joseKey = await importJWK(key.publicJwk as JWK, alg);
    await assert.rejects(compactVerify(token.replace(/^[^.]+/, Buffer.from(JSON.stringify({ alg })).toString('base64url')), joseKey));
  }
});

test('a real signature verifies; wrong lengths and DER-encoded ECDSA do not', () => {
  const key = generateTestKey('ES256');
  const p1363 = sign('sha256', data, { key: key.privateKey!, dsaEncoding: 'ieee-p1363' });
  assert.equal(verifySignature('ES256', key.publicKey!, data, p1363), true);
  const der = sign('sha256', data, key.privateKey!);
  assert.equal(verifySignature('ES256', key.publicKey!, data, der), false);
  assert.equal(verifySignature('ES256', key.publicKey!, data, p1363.subarray(0, 63)), false);
});

test('HS256 keyed with the RSA public key text cannot pass as RS256, nor as HS256 against an RSA key', () => {
  const rsa = generateTestKey('RS256');
  const mac = createHmac('sha256', rsa.publicPem).update(data).digest();
  assert.equal(verifySignature('RS256', rsa.publicKey!, data, mac), false);
  assert.equal(verifySignature('HS256', rsa.publicKey!, data, mac), false);
  assert.equal(keyFitsAlgorithm('HS256', rsa.publicKey!), false);
});

test('keys must fit the algorithm: type, curve, size', () => {
  const rsa = generateTestKey('RS256').publicKey!;
  const p256 = generateTestKey('ES256').publicKey!;
  const ed = generateTestKey('EdDSA').publicKey!;
  const weak = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey;
  assert.equal(keyFitsAlgorithm('RS256', rsa), true);
  assert.equal(keyFitsAlgorithm('PS256', rsa), true);
  assert.equal(keyFitsAlgorithm('RS256', weak), false);
  assert.equal(keyFitsAlgorithm('ES256', p256), true);
  assert.equal(keyFitsAlgorithm('ES384', p256), false);
  assert.equal(keyFitsAlgorithm('RS256', p256), false);
  assert.equal(keyFitsAlgorithm('EdDSA', ed), true);
  assert.equal(keyFitsAlgorithm('Ed25519', ed), true);
  assert.equal(keyFitsAlgorithm('ES256', ed), false);
  // EdDSA means Ed25519 here: an Ed448 key serves neither name (and a 114-byte signature never verifies).
  const ed448 = generateKeyPairSync('ed448');
  assert.equal(keyFitsAlgorithm('EdDSA', ed448.publicKey), false);
  assert.equal(keyFitsAlgorithm('Ed25519', ed448.publicKey), false);
  assert.equal(verifySignature('EdDSA', ed448.publicKey, data, sign(null, data, ed448.privateKey)), false);
  assert.equal(keyFitsAlgorithm('HS256', Buffer.alloc(31)), false);
  assert.equal(keyFitsAlgorithm('HS256', Buffer.alloc(32)), true);
  const priv = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  assert.equal(keyFitsAlgorithm('ES256', priv), false);
});

test('none, in any casing, is not an algorithm', () => {
  for (const alg of ['none', 'None', 'NONE', 'nOnE', '', 'rs256', 'HS256 ', undefined, 7]) {
    assert.equal(isSupportedAlgorithm(alg), false, String(alg));
  }
  assert.equal(isSupportedAlgorithm('toString'), false);
  assert.equal(isSupportedAlgorithm('__proto__'), false);
});

test('an RSA signature must be exactly the modulus long: a PS256 signature that starts with 0x00, shortened by that byte, is refused (OpenSSL alone takes it)', () => {
  const key = generateTestKey('PS256');
  let input = Buffer.alloc(0);
  let signature = Buffer.alloc(0);
  // About one PSS signature in 256 starts with a zero byte.
  for (let i = 0; signature[0] !== 0; i++) {
    assert.ok(i < 20_000, 'no signature with a leading zero byte');
    input = Buffer.from(`input-${i}`);
    signature = sign('sha256', input, { key: key.privateKey!, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST });
  }
  const twin = signature.subarray(1);
  assert.equal(verify('sha256', input, { key: key.publicKey!, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST }, twin), true, 'OpenSSL accepts the shortened signature');
  assert.equal(verifySignature('PS256', key.publicKey!, input, signature), true);
  assert.equal(verifySignature('PS256', key.publicKey!, input, twin), false);
  const rs = generateTestKey('RS256');
  const rsSig = sign('sha256', input, rs.privateKey!);
  assert.equal(verifySignature('RS256', rs.publicKey!, input, rsSig), true);
  assert.equal(verifySignature('RS256', rs.publicKey!, input, Buffer.concat([Buffer.alloc(1), rsSig])), false);
});

test('the test helper signs what the verifier accepts (PS256 round trip)', () => {
  const key = generateTestKey('PS256');
  const [h, p, s] = signCompact({ alg: 'PS256' }, { a: 1 }, key).split('.');
  assert.equal(verifySignature('PS256', key.publicKey!, Buffer.from(`${h}.${p}`), Buffer.from(s!, 'base64url')), true);
  assert.equal(verifySignature('RS256', key.publicKey!, Buffer.from(`${h}.${p}`), Buffer.from(s!, 'base64url')), false);
});
