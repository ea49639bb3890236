import assert from 'node:assert/strict';
import { test } from 'node:test';
import { newHandle, type SessionData } from '../../sessions/session.js';
import { identityOf } from './session.js';

const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');

function data(accessToken: string, scope?: string): SessionData {
  return {
    handle: newHandle(),
    issuer: 'https://idp.test',
    subject: 'alice',
    claims: { name: 'Alice', sub: 'spoofed' },
    tokens: { accessToken, accessTokenExpiresAt: 1234, ...(scope ? { scope } : {}) },
    createdAt: 0,
    lastSeenAt: 0,
  };
}

test('identityOf: source session, scopes from the token response, jti of a JWT access token, reused while unchanged', () => {
  const jwt = `${b64({ alg: 'ES256' })}.${b64({ jti: 'tok-1', sub: 'alice' })}.sig`;
  const d = data(jwt, 'openid api:read');
  const id = identityOf(d, 'gw');
  assert.equal(id.source, 'session');
  assert.equal(id.subject, 'alice');
  assert.equal(id.claims.sub, 'alice', 'the session subject wins over a claim of that name');
  assert.equal(id.issuer, 'https://idp.test');
  assert.equal(id.clientId, 'gw');
  assert.deepEqual([...id.scopes], ['openid', 'api:read']);
  assert.equal(id.tokenId, 'tok-1');
  assert.equal(id.expiresAt, 1234);
  assert.equal(id.accessToken, jwt);
  assert.ok(Object.isFrozen(id.claims));
  assert.ok(Object.isFrozen(id));
  assert.throws(() => (id.scopes as Set<string>).add('admin'), TypeError);
  assert.equal(identityOf(d, 'gw'), id, 'same session object: same identity');
  assert.deepEqual([...identityOf(d, 'gw').scopes], ['openid', 'api:read'], 'the shared identity kept its scopes');
  const opaque = identityOf(data('opaque-token'), 'gw');
  assert.equal(opaque.tokenId, undefined);
  assert.equal(opaque.scopes.size, 0);
  assert.equal(identityOf(data('a.!!!.c'), 'gw').tokenId, undefined, 'junk payload');
});
