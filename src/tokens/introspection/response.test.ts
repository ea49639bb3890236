import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GatehouseError } from '../../errors.js';
import { parseIntrospectionResponse } from './response.js';

const NOW = 1_800_000_000;
const EXPECT = { issuer: 'https://as.example', fallbackIssuer: 'https://as.example', audiences: ['api'], clockSkewSeconds: 0 };
const GOOD = { active: true, iss: 'https://as.example', aud: 'api', exp: NOW + 60, scope: 'a b', sub: 'u1', client_id: 'c1' };

test('a well-formed active response yields the identity', () => {
  const out = parseIntrospectionResponse(GOOD, 'tok', EXPECT, NOW);
  assert.ok(out.active);
  assert.equal(out.identity.source, 'opaque');
  assert.deepEqual([...out.identity.scopes], ['a', 'b']);
  assert.equal(out.identity.tokenId, undefined);
  // The identity is cached and shared by every request with this token: its scopes cannot grow.
  assert.throws(() => (out.identity.scopes as Set<string>).add('admin'), TypeError);
  assert.throws(() => (out.identity.scopes as Set<string>).delete('a'), TypeError);
  assert.deepEqual([...out.identity.scopes], ['a', 'b']);
});

test('without iss in the response, the configured issuer (or the endpoint origin) is recorded', () => {
  const { iss: _iss, ...noIss } = GOOD;
  const a = parseIntrospectionResponse(noIss, 'tok', EXPECT, NOW);
  assert.ok(a.active);
  assert.equal(a.identity.issuer, 'https://as.example');
  const b = parseIntrospectionResponse(noIss, 'tok', { ...EXPECT, issuer: undefined, fallbackIssuer: 'http://127.0.0.1:1' }, NOW);
  assert.ok(b.active);
  assert.equal(b.identity.issuer, 'http://127.0.0.1:1');
});

test('{ active: false } is inactive whatever else it carries', () => {
  const out = parseIntrospectionResponse({ active: false, sub: 42 }, 'tok', EXPECT, NOW);
  assert.deepEqual(out, { active: false, code: 'GH_TOKEN_INACTIVE', message: 'token is not active' });
});

const GARBAGE: [string, unknown][] = [
  ['null', null],
  ['an array', [GOOD]],
  ['a string', 'active'],
  ['no active', { ...GOOD, active: undefined }],
  ['active as a string', { ...GOOD, active: 'true' }],
  ['active as 1', { ...GOOD, active: 1 }],
  ['exp as a string', { ...GOOD, exp: String(NOW + 60) }],
  ['scope as an array', { ...GOOD, scope: ['a'] }],
  ['sub as a number', { ...GOOD, sub: 1 }],
  ['client_id as an object', { ...GOOD, client_id: {} }],
  ['jti as a number', { ...GOOD, jti: 7 }],
  ['iss as a number', { ...GOOD, iss: 1 }],
  ['aud as a number', { ...GOOD, aud: 1 }],
  ['aud with a non-string', { ...GOOD, aud: ['api', 2] }],
  ['iat as NaN-like', { ...GOOD, iat: 'x' }],
];
for (const [name, body] of GARBAGE) {
  test(`a response with ${name} is the endpoint failing: GH_INTROSPECTION_UNAVAILABLE`, () => {
    assert.throws(
      () => parseIntrospectionResponse(JSON.parse(JSON.stringify(body)) as unknown, 'tok', EXPECT, NOW),
      (err: unknown) => err instanceof GatehouseError && err.code === 'GH_INTROSPECTION_UNAVAILABLE' && err.status === 503,
    );
  });
}

test('an active response without exp (optional in RFC 7662) is accepted; the identity never expires by itself', () => {
  const out = parseIntrospectionResponse({ ...GOOD, exp: undefined }, 'tok', EXPECT, NOW);
  assert.ok(out.active);
  assert.equal(out.identity.expiresAt, Number.POSITIVE_INFINITY);
});

test('clock skew is tolerated on exp', () => {
  const out = parseIntrospectionResponse({ ...GOOD, exp: NOW - 10 }, 'tok', { ...EXPECT, clockSkewSeconds: 30 }, NOW);
  assert.ok(out.active);
});
