import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { test } from 'node:test';
import { calculateJwkThumbprint, type JWK } from 'jose';
import { generateTestKey } from '../../../test/helpers/jwt.js';
import { ED448_UNSUPPORTED, importVerificationJwk, type SkippedKey } from './import.js';

const skippedKey = (jwk: Record<string, unknown>, algs: Parameters<typeof importVerificationJwk>[1]): SkippedKey => {
  const r = importVerificationJwk(jwk, algs);
  assert.ok('reason' in r, `imported: ${JSON.stringify(jwk).slice(0, 80)}`);
  return r;
};
const skipped = (jwk: Record<string, unknown>, algs: Parameters<typeof importVerificationJwk>[1]): string => skippedKey(jwk, algs).reason;

test('a JWK that publishes private key material is not used: whoever can read the set can sign tokens', () => {
  for (const alg of ['RS256', 'ES256', 'EdDSA'] as const) {
    const key = generateTestKey(alg);
    const priv: Record<string, unknown> = { ...(key.privateKey?.export({ format: 'jwk' }) as Record<string, unknown>), kid: key.kid, alg };
    assert.ok(priv.d, 'the private JWK has d');
    assert.match(skipped(priv, [alg]), /private key material/, alg);
    const pub = importVerificationJwk(key.publicJwk, [alg]);
    assert.ok(!('reason' in pub), `${alg}: its public half imports`);
  }
  const rsa = generateTestKey('RS256');
  for (const member of ['p', 'q', 'dp', 'dq', 'qi', 'oth', 'k']) {
    assert.match(skipped({ ...rsa.publicJwk, [member]: 'AQAB' }, ['RS256']), /private key material/, member);
  }
});

test('JWK members of the wrong type skip the key: a key_ops that is not an array, a kid that is not a string', () => {
  const key = generateTestKey('ES256');
  assert.match(skipped({ ...key.publicJwk, key_ops: 'sign' }, ['ES256']), /key_ops/);
  // An unnamed key answers tokens with any kid; a numeric kid must not make one.
  assert.match(skipped({ ...key.publicJwk, kid: 7 }, ['ES256']), /kid/);
  const fine = importVerificationJwk({ ...key.publicJwk, key_ops: ['verify'] }, ['ES256']);
  assert.ok(!('reason' in fine));
});

test('an Ed448 JWK is skipped and reported when the allow-list has EdDSA; routine otherwise', () => {
  const jwk = { ...generateKeyPairSync('ed448').publicKey.export({ format: 'jwk' }), kid: 'ed448' };
  assert.deepEqual(skippedKey(jwk, ['EdDSA', 'RS256']), { kid: 'ed448', reason: ED448_UNSUPPORTED, reported: true });
  assert.deepEqual(skippedKey(jwk, ['RS256']), { kid: 'ed448', reason: 'no allowed algorithm for this key' });
});

test('keys whose parameters do not make a key are skipped: an EC point off its curve, an Ed25519 key of the wrong length, a member that is not a string', () => {
  const ec = generateTestKey('ES256').publicJwk;
  const offCurve = { ...ec, y: Buffer.alloc(32, 1).toString('base64url') };
  assert.equal(skippedKey(offCurve, ['ES256']).reason, 'invalid key parameters');
  const ed = generateTestKey('EdDSA').publicJwk;
  assert.equal(skippedKey({ ...ed, x: Buffer.alloc(31).toString('base64url') }, ['EdDSA']).reason, 'invalid key parameters');
  assert.equal(skippedKey({ ...generateTestKey('RS256').publicJwk, n: 12345 }, ['RS256']).reason, 'invalid key parameters');
});

test('a key\'s id is its kid and its RFC 7638 thumbprint, as jose computes it', async () => {
  for (const alg of ['RS256', 'ES256', 'EdDSA'] as const) {
    const key = generateTestKey(alg);
    const imported = importVerificationJwk(key.publicJwk, [alg]);
    assert.ok('id' in imported);
    assert.equal(imported.id, `${key.kid}#${await calculateJwkThumbprint(key.publicJwk as JWK, 'sha256')}`, alg);
  }
});
