import assert from 'node:assert/strict';
import { test } from 'node:test';
import { generateTestKey } from '../../../test/helpers/jwt.js';
import { importVerificationJwk } from './import.js';

const skipped = async (jwk: Record<string, unknown>, algs: Parameters<typeof importVerificationJwk>[1]) => {
  const r = await importVerificationJwk(jwk, algs);
  assert.ok('reason' in r, `imported: ${JSON.stringify(jwk).slice(0, 80)}`);
  return r.reason;
};

test('a JWK that publishes private key material is not used: whoever can read the set can sign tokens', async () => {
  for (const alg of ['RS256', 'ES256', 'EdDSA'] as const) {
    const key = generateTestKey(alg);
    const priv: Record<string, unknown> = { ...(key.privateKey?.export({ format: 'jwk' }) as Record<string, unknown>), kid: key.kid, alg };
    assert.ok(priv.d, 'the private JWK has d');
    assert.match(await skipped(priv, [alg]), /private key material/, alg);
    const pub = await importVerificationJwk(key.publicJwk, [alg]);
    assert.ok(!('reason' in pub), `${alg}: its public half imports`);
  }
  const rsa = generateTestKey('RS256');
  for (const member of ['p', 'q', 'dp', 'dq', 'qi', 'oth', 'k']) {
    assert.match(await skipped({ ...rsa.publicJwk, [member]: 'AQAB' }, ['RS256']), /private key material/, member);
  }
});

test('JWK members of the wrong type skip the key: a key_ops that is not an array, a kid that is not a string', async () => {
  const key = generateTestKey('ES256');
  assert.match(await skipped({ ...key.publicJwk, key_ops: 'sign' }, ['ES256']), /key_ops/);
  // An unnamed key answers tokens with any kid; a numeric kid must not make one.
  assert.match(await skipped({ ...key.publicJwk, kid: 7 }, ['ES256']), /kid/);
  const fine = await importVerificationJwk({ ...key.publicJwk, key_ops: ['verify'] }, ['ES256']);
  assert.ok(!('reason' in fine));
});
