import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { forgeToken, generateTestKey, mintToken, startJwksServer, testIssuerOptions, type JwksServer } from '../../../test/helpers/jwt.js';
import { inspectToken } from './inspect.js';
import type { TokenVerifier } from './options.js';
import { createTokenVerifier } from './verifier.js';

const key = generateTestKey('RS256');
let jwks: JwksServer;
let verifier: TokenVerifier;
before(async () => {
  jwks = await startJwksServer([key]);
  verifier = createTokenVerifier([testIssuerOptions({ jwksUri: jwks.uri })]);
  await verifier.ready;
});
after(async () => {
  verifier.close();
  await jwks.close();
});

test('without a verifier: decoded header and claims, not verified', async () => {
  const r = await inspectToken(mintToken(key, { iss: 'https://issuer.test', aud: 'api', sub: 'alice' }));
  assert.equal(r.header?.alg, 'RS256');
  assert.equal(r.header?.kid, key.kid);
  assert.equal(r.claims?.sub, 'alice');
  assert.equal(r.verified, false);
  assert.equal(r.code, undefined);
});

test('with a verifier: verified, or the reason and code', async () => {
  const ok = await inspectToken(mintToken(key, { iss: 'https://issuer.test', aud: 'api' }), verifier);
  assert.equal(ok.verified, true);
  assert.equal(ok.reason, undefined);
  const expired = await inspectToken(mintToken(key, { iss: 'https://issuer.test', aud: 'api', exp: 1000 }), verifier);
  assert.deepEqual([expired.verified, expired.code, expired.reason], [false, 'GH_TOKEN_EXPIRED', 'token expired']);
  assert.equal(expired.claims?.exp, 1000);
  const none = await inspectToken(forgeToken({ alg: 'none' }, { iss: 'https://issuer.test', aud: 'api', exp: 2e9 }), verifier);
  assert.deepEqual([none.verified, none.code, none.reason, none.header?.alg], [false, 'GH_TOKEN_INVALID', 'algorithm not allowed', 'none']);
});

test('garbage: nothing decodes, the reason says why', async () => {
  const r = await inspectToken('not.a.jwt', verifier);
  assert.equal(r.header, undefined);
  assert.equal(r.claims, undefined);
  assert.deepEqual([r.verified, r.code], [false, 'GH_TOKEN_MALFORMED']);
});
