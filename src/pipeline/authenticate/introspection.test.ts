import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { after, before, test } from 'node:test';
import { startIntrospectionStub, type IntrospectionStub } from '../../../test/helpers/introspection.js';
import { IntrospectionSchema } from '../../config/schema.js';
import { GatehouseError } from '../../errors.js';
import { createIntrospectionClient, type IntrospectionClient } from '../../tokens/introspection/client.js';
import type { RequestContext } from '../context.js';
import { introspectionAuthenticator } from './introspection.js';

let stub: IntrospectionStub;
let client: IntrospectionClient;
const JWT_SHAPED = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln';

before(async () => {
  stub = await startIntrospectionStub();
  client = createIntrospectionClient(
    IntrospectionSchema.parse({ endpoint: stub.endpoint, clientId: stub.clientId, clientSecret: stub.clientSecret, audience: 'api' }),
  );
  const exp = Math.floor(Date.now() / 1000) + 300;
  stub.tokens.set('opaque-1', { active: true, aud: 'api', exp, sub: 'alice', scope: 'read' });
  stub.tokens.set(JWT_SHAPED, { active: true, aud: 'api', exp, sub: 'jwt-as-reference' });
});
after(async () => {
  await client.close();
  await stub.close();
});

function ctx(bearer?: string): RequestContext {
  return {
    req: {} as IncomingMessage,
    requestId: 'r1',
    path: '/',
    query: '',
    credential: bearer === undefined ? undefined : { bearer },
    identity: undefined,
  };
}

test('kind is opaque; no bearer is skipped (the pipeline reports the missing token)', async () => {
  const a = introspectionAuthenticator(client);
  assert.equal(a.kind, 'opaque');
  assert.deepEqual(await a.authenticate(ctx()), { status: 'skipped' });
});

test('an opaque bearer is introspected into an opaque identity', async () => {
  const out = await introspectionAuthenticator(client).authenticate(ctx('opaque-1'));
  assert.equal(out.status, 'authenticated');
  assert.equal(out.status === 'authenticated' && out.identity.subject, 'alice');
  assert.equal(out.status === 'authenticated' && out.identity.source, 'opaque');
});

test('with skipJwtShaped (route also accepts jwt) a three-segment bearer is left to the JWT authenticator', async () => {
  const before = stub.requests;
  assert.deepEqual(await introspectionAuthenticator(client, { skipJwtShaped: true }).authenticate(ctx(JWT_SHAPED)), {
    status: 'skipped',
  });
  assert.equal(stub.requests, before);
  const out = await introspectionAuthenticator(client, { skipJwtShaped: true }).authenticate(ctx('opaque-1'));
  assert.equal(out.status, 'authenticated');
});

test('on an opaque-only route every bearer is introspected, JWT-shaped or not', async () => {
  const out = await introspectionAuthenticator(client).authenticate(ctx(JWT_SHAPED));
  assert.equal(out.status === 'authenticated' && out.identity.subject, 'jwt-as-reference');
});

test('an inactive token throws 401 GH_TOKEN_INACTIVE', async () => {
  await assert.rejects(
    introspectionAuthenticator(client).authenticate(ctx('never-issued')),
    (err: unknown) => err instanceof GatehouseError && err.code === 'GH_TOKEN_INACTIVE' && err.status === 401,
  );
});
