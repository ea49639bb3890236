import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { GatehouseError } from '../../errors.js';
import { generateTestKey, jwtFixture, mintToken, testIssuerOptions, testKeyFromPrivate } from '../../../test/helpers/jwt.js';
import { createTokenVerifier } from '../jwt/verifier.js';
import { importPublicKeyFile, readPublicKeyFile } from './static.js';

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-static-keys-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const ISS = 'https://auth.example.com';
const claims = { iss: ISS, aud: 'api-users', sub: 'alice' };

function file(name: string, content: string): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

async function verifies(publicKey: string, token: string, algorithms: string[], baseDir?: string): Promise<void> {
  const v = createTokenVerifier([testIssuerOptions({ issuer: ISS, audience: 'api-users', publicKey, algorithms })], { baseDir });
  try {
    await v.ready;
    assert.equal(v.isReady(), true);
    const id = await v.verify(token);
    assert.equal(id.subject, 'alice');
  } finally {
    v.close();
  }
}

describe('publicKey files', () => {
  test('the seed shape: a PEM SPKI file with algorithms [RS256]', async () => {
    const key = generateTestKey('RS256');
    await verifies(file('public.key', key.publicPem), mintToken(key, claims, { kid: null }), ['RS256']);
  });

  test('a PEM SPKI key also verifies tokens that carry a kid (there is only one key)', async () => {
    const key = generateTestKey('ES256');
    await verifies(file('ec.pem', key.publicPem), mintToken(key, claims), ['ES256']);
  });

  test('a relative path resolves against baseDir', async () => {
    const key = generateTestKey('EdDSA');
    file('ed.pem', key.publicPem);
    await verifies('ed.pem', mintToken(key, claims), ['EdDSA'], dir);
  });

  test('a PEM certificate (RSA and EC)', async () => {
    const rsa = testKeyFromPrivate('RS256', readFileSync(jwtFixture('cert-signing-key.pem'), 'utf8'));
    await verifies(jwtFixture('cert.pem'), mintToken(rsa, claims), ['RS256', 'PS256']);
    const ps = testKeyFromPrivate('PS256', rsa.privateKey!);
    await verifies(jwtFixture('cert.pem'), mintToken(ps, claims), ['RS256', 'PS256']);
    const ec = testKeyFromPrivate('ES256', readFileSync(jwtFixture('ec-cert-signing-key.pem'), 'utf8'));
    await verifies(jwtFixture('ec-cert.pem'), mintToken(ec, claims), ['ES256']);
  });

  test('a JWK file and a JWK Set file (kid selects)', async () => {
    const a = generateTestKey('ES256');
    const b = generateTestKey('RS256');
    await verifies(file('key.jwk', JSON.stringify(a.publicJwk)), mintToken(a, claims), ['ES256']);
    const set = file('keys.json', JSON.stringify({ keys: [a.publicJwk, b.publicJwk] }));
    await verifies(set, mintToken(a, claims), ['ES256', 'RS256']);
    await verifies(set, mintToken(b, claims), ['ES256', 'RS256']);
  });

  test('HS256 in the allow-list beside a public key is refused, and the key file never becomes an HMAC secret anyway', async () => {
    const key = generateTestKey('RS256');
    const path = file('mixed.pem', key.publicPem);
    // Refused when the verifier is built, as the config schema refuses it (the service kit takes options from code).
    assert.throws(
      () => createTokenVerifier([testIssuerOptions({ issuer: ISS, audience: 'api-users', publicKey: path, algorithms: ['RS256', 'HS256'] })]),
      { message: `issuer ${ISS}: algorithms: HMAC algorithms need an explicit secret and are never allowed with public keys` },
    );
    // Below that rule, the imported key serves RS256 only: no key answers for HS256, with or without a kid.
    const keys = await importPublicKeyFile(readPublicKeyFile(path), ['RS256', 'HS256']).keys;
    assert.deepEqual([...keys.keys[0]!.algorithms], ['RS256']);
    assert.notEqual(keys.select(key.kid, 'HS256').status, 'found');
    assert.deepEqual(keys.select(undefined, 'HS256'), { status: 'no-key', reason: 'no key for this algorithm' });
  });

  test('a missing file fails at construction, naming the path', () => {
    assert.throws(
      () => createTokenVerifier([testIssuerOptions({ publicKey: join(dir, 'nope.pem'), algorithms: ['RS256'] })]),
      /cannot read public key file .*nope\.pem: ENOENT/,
    );
  });

  for (const [name, content] of [
    ['a private key', () => generateTestKey('RS256').privateKey!.export({ format: 'pem', type: 'pkcs8' }).toString()],
    ['a private JWK', () => JSON.stringify(generateTestKey('ES256').privateKey!.export({ format: 'jwk' }))],
    ['garbage', () => 'hello'],
    ['a key of another type than the algorithms', () => generateTestKey('ES256').publicPem],
    ['a 1024-bit RSA key', () => {
      // RFC 7518 asks 2048 bits at least.
      const { publicKey } = require1024();
      return publicKey;
    }],
  ] as const) {
    test(`${name}: never ready, requests get 503 GH_KEYS_UNAVAILABLE`, async () => {
      const v = createTokenVerifier([testIssuerOptions({ issuer: ISS, publicKey: file(`bad-${name.length}.pem`, content()), algorithms: ['RS256'] })]);
      try {
        const key = generateTestKey('RS256');
        await assert.rejects(v.verify(mintToken(key, { ...claims, aud: 'api' })), (e: unknown) => e instanceof GatehouseError && e.code === 'GH_KEYS_UNAVAILABLE');
        assert.equal(v.isReady(), false);
      } finally {
        v.close();
      }
    });
  }
});

test('a static key that fails to import is reported through onKeySourceError, naming the file only', async () => {
  const path = file('not-a-key.pem', '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n');
  const reported = new Promise<[string, string]>((resolve) => {
    const v = createTokenVerifier([testIssuerOptions({ name: 'static-one', publicKey: path, algorithms: ['RS256'] })], {
      hooks: { onKeySourceError: (issuer, reason) => resolve([issuer, reason]) },
    });
    after(() => v.close());
  });
  const [issuer, reason] = await reported;
  assert.equal(issuer, 'static-one');
  assert.match(reason, /not-a-key\.pem/);
  assert.ok(!reason.includes('AAAA'));
});

describe('HMAC secrets', () => {
  test('HS256 with a 32-byte secret verifies; a wrong secret does not', async () => {
    const key = generateTestKey('HS256');
    const v = createTokenVerifier([testIssuerOptions({ issuer: ISS, audience: 'api-users', secret: key.secret, algorithms: ['HS256'] })]);
    try {
      await v.ready;
      assert.equal((await v.verify(mintToken(key, claims))).subject, 'alice');
      const other = generateTestKey('HS256');
      await assert.rejects(v.verify(mintToken(other, claims)), (e: GatehouseError) => e.code === 'GH_TOKEN_INVALID' && e.message === 'signature invalid');
    } finally {
      v.close();
    }
  });

  test('a secret shorter than its algorithm\'s hash is refused even without the config schema (RFC 7518 §3.2)', () => {
    assert.throws(() => createTokenVerifier([testIssuerOptions({ secret: 'x'.repeat(31), algorithms: ['HS256'] })]), /for HS256 must be at least 256 bits/);
    assert.throws(() => createTokenVerifier([testIssuerOptions({ secret: 'x'.repeat(47), algorithms: ['HS256', 'HS384'] })]), /for HS384 must be at least 384 bits \(48 bytes\)/);
    assert.throws(() => createTokenVerifier([testIssuerOptions({ secret: 'x'.repeat(63), algorithms: ['HS512'] })]), /for HS512 must be at least 512 bits/);
    createTokenVerifier([testIssuerOptions({ secret: 'x'.repeat(64), algorithms: ['HS256', 'HS512'] })]).close();
  });

  test('a secret with asymmetric algorithms is refused', () => {
    assert.throws(() => createTokenVerifier([testIssuerOptions({ secret: 'x'.repeat(40), algorithms: ['RS256'] })]), /algorithms: a secret allows only HS256, HS384 or HS512/);
  });
});

function require1024(): { publicKey: string } {
  // Generated here rather than in the helper: the helper only makes keys a verifier should accept.
  const { generateKeyPairSync } = process.getBuiltinModule('node:crypto');
  const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
  return { publicKey: publicKey.export({ format: 'pem', type: 'spki' }).toString() };
}
