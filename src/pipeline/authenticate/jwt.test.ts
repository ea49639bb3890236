import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { after, before, test } from 'node:test';
import { GatehouseError } from '../../errors.js';
import { generateTestKey, mintToken, startJwksServer, testIssuerOptions, type JwksServer } from '../../../test/helpers/jwt.js';
import type { JwtIssuerConfig } from '../../config/schema.js';
import { createTokenVerifier } from '../../tokens/jwt/verifier.js';
import type { IssuerOptions, TokenVerifier } from '../../tokens/jwt/options.js';
import type { RequestContext } from '../context.js';
import { jwtAuthenticator } from './jwt.js';

const key = generateTestKey('ES256');
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

function ctx(bearer: string | undefined): RequestContext {
  return {
    req: {} as IncomingMessage,
    requestId: 'r1',
    path: '/',
    query: '',
    credential: bearer === undefined ? undefined : { bearer },
    identity: undefined,
  };
}

test('a valid JWT authenticates', async () => {
  const auth = jwtAuthenticator(verifier);
  assert.equal(auth.kind, 'jwt');
  const r = await auth.authenticate(ctx(mintToken(key, { iss: 'https://issuer.test', aud: 'api', sub: 'bob' })));
  assert.equal(r.status, 'authenticated');
  assert.equal(r.status === 'authenticated' && r.identity.subject, 'bob');
});

test('no bearer, or a bearer that is not three segments, is skipped', async () => {
  const auth = jwtAuthenticator(verifier);
  assert.deepEqual(await auth.authenticate(ctx(undefined)), { status: 'skipped' });
  assert.deepEqual(await auth.authenticate(ctx('opaque-token-value')), { status: 'skipped' });
  assert.deepEqual(await auth.authenticate(ctx('a.b.c.d')), { status: 'skipped' });
});

test('a JWT-shaped bearer that fails throws the verifier error', async () => {
  const auth = jwtAuthenticator(verifier);
  await assert.rejects(auth.authenticate(ctx('a.b.c')), (e: unknown) => e instanceof GatehouseError && e.code === 'GH_TOKEN_MALFORMED');
  const expired = mintToken(key, { iss: 'https://issuer.test', aud: 'api', exp: 1 });
  await assert.rejects(auth.authenticate(ctx(expired)), (e: unknown) => e instanceof GatehouseError && e.code === 'GH_TOKEN_EXPIRED');
});

test('synchronously: a fresh valid JWT authenticates, a bad one is returned as its refusal, a non-token68 one is a 400 (thrown)', () => {
  const auth = jwtAuthenticator(verifier);
  const good = auth.authenticateSync!(ctx(mintToken(key, { iss: 'https://issuer.test', aud: 'api', sub: 'carol' })));
  assert.ok(good !== undefined && !(good instanceof GatehouseError) && good.status === 'authenticated');
  assert.equal(good.identity.subject, 'carol');
  const expired = auth.authenticateSync!(ctx(mintToken(key, { iss: 'https://issuer.test', aud: 'api', exp: 1 })));
  assert.ok(expired instanceof GatehouseError && expired.code === 'GH_TOKEN_EXPIRED');
  const malformed = auth.authenticateSync!(ctx('a.b.c'));
  assert.ok(malformed instanceof GatehouseError && malformed.code === 'GH_TOKEN_MALFORMED');
  assert.throws(
    () => auth.authenticateSync!(ctx('ey!!.x.y')),
    (e: unknown) => e instanceof GatehouseError && e.code === 'GH_BAD_CREDENTIAL_REQUEST',
  );
});

test('the config schema output fits IssuerOptions (checked by the compiler)', () => {
  const fromConfig = (c: JwtIssuerConfig): IssuerOptions => c;
  assert.equal(typeof fromConfig, 'function');
});
