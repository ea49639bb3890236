import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
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
    const keys = importPublicKeyFile(readPublicKeyFile(path), ['RS256', 'HS256']);
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

  // Imported when the verifier is built: a service on the kit has no start step that would see a
  // failure later, and answered 503 GH_KEYS_UNAVAILABLE to every request, forever, logging nothing.
  for (const [name, content, reason] of [
    ['a private key', () => generateTestKey('RS256').privateKey!.export({ format: 'pem', type: 'pkcs8' }).toString(), 'holds a private key; give the public key'],
    ['a private JWK', () => JSON.stringify(generateTestKey('ES256').privateKey!.export({ format: 'jwk' })), 'holds a private key; give the public key'],
    ['a private JWK in a set', () => JSON.stringify({ keys: [{ ...generateTestKey('RS256').publicJwk, p: 'AQAB' }] }), 'holds a private key; give the public key'],
    ['garbage', () => 'hello', 'neither PEM nor JSON'],
    ['a PEM block that does not parse', () => '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n', 'the public key does not parse'],
    ['a certificate that does not parse', () => '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n', 'the certificate does not parse'],
    ['a key of another type than the algorithms', () => generateTestKey('ES256').publicPem, 'the key does not fit any of the algorithms RS256'],
    // RFC 7518 asks 2048 bits at least.
    ['a 1024-bit RSA key', () => require1024().publicKey, 'the key does not fit any of the algorithms RS256'],
    ['a JWK Set with only an encryption key', () => JSON.stringify({ keys: [{ ...generateTestKey('RS256').publicJwk, kid: 'e1', use: 'enc' }] }),
      'no usable verification key for the configured algorithms (kid e1 not a signature key)'],
  ] as const) {
    test(`${name}: the verifier is not built; the error names the issuer, the file and why, never key material`, () => {
      const text = content();
      const path = file(`bad-${name.replaceAll(' ', '-')}.pem`, text);
      assert.throws(
        () => createTokenVerifier([testIssuerOptions({ name: 'static-one', issuer: ISS, publicKey: path, algorithms: ['RS256'] })]),
        (err: Error) => {
          assert.equal(err.message, `issuer static-one: public key file ${path}: ${reason}`);
          return true;
        },
      );
    });
  }
});

describe('Ed448', () => {
  // Not verified: jose (which the authorization service signs with) has none, and RFC 9864 names it
  // apart from EdDSA. Said precisely rather than failing with a parser's words, or not at all.
  const ed448 = generateKeyPairSync('ed448');

  test('an Ed448 PEM key fails at construction, saying Ed448 is not supported', () => {
    const path = file('ed448.pem', ed448.publicKey.export({ format: 'pem', type: 'spki' }).toString());
    assert.throws(() => createTokenVerifier([testIssuerOptions({ issuer: ISS, publicKey: path, algorithms: ['EdDSA'] })]), {
      message: `issuer ${ISS}: public key file ${path}: the key is an Ed448 key, and Ed448 is not supported (EdDSA verifies Ed25519 keys only)`,
    });
  });

  test('an Ed448 JWK file fails likewise; beside an Ed25519 key, the Ed25519 key serves', async () => {
    const jwk = { ...ed448.publicKey.export({ format: 'jwk' }), kid: 'ed448' };
    const path = file('ed448.jwk', JSON.stringify(jwk));
    assert.throws(() => createTokenVerifier([testIssuerOptions({ issuer: ISS, publicKey: path, algorithms: ['EdDSA'] })]), {
      message: `issuer ${ISS}: public key file ${path}: no usable verification key for the configured algorithms (kid ed448 is an Ed448 key, and Ed448 is not supported (EdDSA verifies Ed25519 keys only))`,
    });
    const ed25519 = generateTestKey('EdDSA');
    await verifies(file('mixed-ed.json', JSON.stringify({ keys: [jwk, ed25519.publicJwk] })), mintToken(ed25519, claims), ['EdDSA']);
  });
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
  const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
  return { publicKey: publicKey.export({ format: 'pem', type: 'spki' }).toString() };
}
