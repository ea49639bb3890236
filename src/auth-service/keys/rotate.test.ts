import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import * as oidc from 'openid-client';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose';
import { discoverClient, startTestAuthService, TEST_API, type TestAuthService } from '../../../test/helpers/auth-service.js';
import { offsetClock } from '../../../test/helpers/clock.js';
import { captureLog } from '../../../test/helpers/log-capture.js';
import { createLogger } from '../../log.js';
import { startAuthService } from '../index.js';
import { fileKeyRepository } from './repository.js';
import { describeKeys, planRotation, rotateStoredKeys } from './rotate.js';
import { activeKey, generateSigningKey, publishedKeys, readKeyFile, type KeyFile } from './store.js';

test('planRotation: new key published now, active after the delay; old key retires after the longest token lifetime', () => {
  const first = generateSigningKey('ES256', 1000);
  const file: KeyFile = { version: 1, keys: [first] };
  const { file: next, result } = planRotation(file, { alg: 'ES256', rotationDelaySeconds: 60, retireAfterSeconds: 300, now: 2000 });
  assert.equal(result.activateAt, 2060);
  assert.deepEqual(result.retiring, [{ kid: first.kid, retireAt: 2360 }]);
  assert.equal(activeKey(next, 2059).kid, first.kid);
  assert.equal(activeKey(next, 2060).kid, result.kid);
  assert.deepEqual(publishedKeys(next, 2359).map((k) => k.kid), [first.kid, result.kid]);
  assert.deepEqual(publishedKeys(next, 2360).map((k) => k.kid), [result.kid]);
  assert.deepEqual(describeKeys(next, 2000).map((k) => k.state), ['active', 'next']);
  assert.deepEqual(describeKeys(next, 2100).map((k) => k.state), ['retiring', 'active']);
  // A later rotation drops keys already retired.
  const again = planRotation(next, { alg: 'ES256', rotationDelaySeconds: 60, retireAfterSeconds: 300, now: 3000 });
  assert.equal(again.file.keys.length, 2);
  assert.ok(!again.file.keys.some((k) => k.kid === first.kid));
});

test('generated keys match their algorithm', () => {
  assert.equal(generateSigningKey('ES256', 0).jwk.crv, 'P-256');
  assert.equal(generateSigningKey('EdDSA', 0).jwk.crv, 'Ed25519');
  assert.equal(generateSigningKey('RS256', 0).jwk.kty, 'RSA');
});

const clock = offsetClock();
const services: TestAuthService[] = [];
after(async () => {
  for (const s of services) await s.close();
});

async function tokenAndJwks(auth: TestAuthService): Promise<{ token: string; jwks: JSONWebKeySet }> {
  const config = await discoverClient(auth, auth.clients.service);
  const { access_token } = await oidc.clientCredentialsGrant(config, { scope: 'api:read', resource: TEST_API });
  const jwks = (await (await fetch(`${auth.issuer}/jwks`)).json()) as JSONWebKeySet;
  return { token: access_token, jwks };
}

test('rotation in a running service: JWKS first, signing after the delay, old key gone after the token lifetime', async (t) => {
  t.after(() => clock.reset()); // also when an assertion fails: later tests share the clock
  const auth = await startTestAuthService({ now: clock.now });
  services.push(auth);
  const before = await tokenAndJwks(auth);
  const oldKid = decodeProtectedHeader(before.token).kid as string;
  assert.deepEqual(before.jwks.keys.map((k) => k.kid), [oldKid]);

  const rotation = await auth.service.rotateKeys();
  const published = await tokenAndJwks(auth);
  assert.deepEqual(new Set(published.jwks.keys.map((k) => k.kid)), new Set([oldKid, rotation.kid]), 'new key published ahead of use');
  assert.equal(decodeProtectedHeader(published.token).kid, oldKid, 'still signing with the old key');

  clock.advance(auth.config.signing.rotationDelay * 1000);
  const switched = await tokenAndJwks(auth);
  assert.equal(decodeProtectedHeader(switched.token).kid, rotation.kid, 'signing with the new key after the delay');
  // A token from before the switch still verifies against the published set.
  await jwtVerify(before.token, createLocalJWKSet(switched.jwks), { issuer: auth.issuer, audience: TEST_API });
  await jwtVerify(switched.token, createLocalJWKSet(switched.jwks), { issuer: auth.issuer, audience: TEST_API });

  clock.advance(auth.config.ttl.accessToken * 1000);
  const retired = await tokenAndJwks(auth);
  assert.deepEqual(retired.jwks.keys.map((k) => k.kid), [rotation.kid], 'old key retired after the longest access-token lifetime');
});

test('a rotation written to the keys file (gatehouse keys rotate) is picked up by reloadKeys', async () => {
  const auth = await startTestAuthService();
  services.push(auth);
  const result = await rotateStoredKeys(fileKeyRepository(auth.config.signing.keysPath as string), {
    alg: 'ES256',
    rotationDelaySeconds: 60,
    retireAfterSeconds: 300,
    now: Math.floor(Date.now() / 1000),
  });
  await auth.service.reloadKeys();
  const { jwks } = await tokenAndJwks(auth);
  assert.ok(jwks.keys.some((k) => k.kid === result.kid));
  const file = await readKeyFile(auth.config.signing.keysPath as string);
  assert.equal(file?.keys.length, 2);
});

for (const alg of ['RS256', 'EdDSA'] as const) {
  test(`signing algorithm ${alg} is selectable`, async () => {
    const auth = await startTestAuthService({ overrides: { signing: { alg } } });
    services.push(auth);
    const { token, jwks } = await tokenAndJwks(auth);
    assert.equal(decodeProtectedHeader(token).alg, alg);
    await jwtVerify(token, createLocalJWKSet(jwks), { issuer: auth.issuer, audience: TEST_API, algorithms: [alg] });
  });
}

test('event listeners registered with on() follow the provider across a key switch', async () => {
  let now = Date.now();
  const auth = await startTestAuthService({ now: () => now });
  services.push(auth);
  const events: string[] = [];
  auth.service.on('grant.success', () => events.push('grant'));
  const first = auth.service.provider;
  await tokenAndJwks(auth);
  await auth.service.rotateKeys();
  now += auth.config.signing.rotationDelay * 1000;
  await tokenAndJwks(auth);
  assert.notEqual(auth.service.provider, first, 'a new instance after the switch');
  assert.deepEqual(events, ['grant', 'grant']);
});

test('a changed signing.alg is not applied silently: the start warns, naming both algorithms and the command; after a rotation it does not', async (t) => {
  const auth = await startTestAuthService(); // ES256 keys created
  t.after(() => auth.close());
  await auth.service.close();
  const rs256 = { ...auth.config, signing: { ...auth.config.signing, alg: 'RS256' as const } };
  const mismatches = async (): Promise<Record<string, unknown>[]> => {
    const log = captureLog();
    const svc = await startAuthService(rs256, { logger: createLogger('info', log.stream) });
    try {
      if (log.lines().some((l) => l.event === 'signing_alg_mismatch')) await svc.rotateKeys();
    } finally {
      await svc.close();
    }
    return log.lines().filter((l) => l.event === 'signing_alg_mismatch');
  };
  const [warning, ...more] = await mismatches();
  assert.equal(more.length, 0);
  assert.equal(warning?.level, 'warn');
  assert.equal(warning?.keysAlg, 'ES256');
  assert.equal(warning?.configuredAlg, 'RS256');
  assert.match(String(warning?.msg), /ES256.*RS256.*gatehouse keys rotate/);
  // The rotation above scheduled an RS256 key: the switch is under way, nothing to warn about.
  assert.deepEqual(await mismatches(), []);
});
