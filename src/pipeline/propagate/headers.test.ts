import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Identity } from '../context.js';
import { compileIdentityHeaders, headerValue, identityHeaderNames } from './headers.js';
import { compileInboundStripper, foldedHeaderName } from './strip-inbound.js';

const id: Identity = {
  source: 'jwt',
  issuer: 'https://issuer.test',
  subject: 'alice',
  clientId: 'web',
  scopes: new Set(['a', 'b']),
  claims: { tenant: 'acme', level: 3, org: { unit: 'x' }, name: 'Zoë', evil: 'a\r\nx-admin: yes' },
  expiresAt: 0,
  tokenId: undefined,
  accessToken: 'tok',
};

test('identity headers: strings as-is, other JSON encoded, unsafe strings escaped', () => {
  const p = {
    authorization: 'forward' as const,
    headers: {
      subject: 'x-user-id',
      clientId: 'x-client',
      scopes: 'x-scopes',
      issuer: 'x-iss',
      claims: { tenant: 'x-tenant', level: 'x-level', 'org.unit': 'x-unit', org: 'x-org', name: 'x-name', evil: 'x-evil', missing: 'x-missing' },
    },
  };
  const out: string[] = [];
  compileIdentityHeaders(p)?.(id, out);
  const h = Object.fromEntries(out.reduce<[string, string][]>((acc, v, i) => (i % 2 ? acc : [...acc, [v, out[i + 1] as string]]), []));
  assert.equal(h['x-user-id'], 'alice');
  assert.equal(h['x-client'], 'web');
  assert.equal(h['x-scopes'], 'a b');
  assert.equal(h['x-iss'], 'https://issuer.test');
  assert.equal(h['x-tenant'], 'acme');
  assert.equal(h['x-level'], '3');
  assert.equal(h['x-unit'], 'x');
  assert.equal(h['x-org'], '{"unit":"x"}');
  assert.equal(h['x-name'], '"Zo\\u00eb"');
  assert.equal(h['x-evil'], '"a\\r\\nx-admin: yes"');
  assert.equal('x-missing' in h, false);
  assert.deepEqual(identityHeaderNames(p).sort(), ['x-client', 'x-evil', 'x-iss', 'x-level', 'x-missing', 'x-name', 'x-org', 'x-scopes', 'x-tenant', 'x-unit', 'x-user-id']);
});

test('masking: one header of base64url JSON with only the chosen claims', () => {
  const p = { authorization: 'drop' as const, headers: { claims: {} }, maskedClaims: { header: 'x-gatehouse-claims', claims: ['tenant', 'org.unit', 'nope'] } };
  const out: string[] = [];
  compileIdentityHeaders(p)?.(id, out);
  assert.equal(out[0], 'x-gatehouse-claims');
  assert.deepEqual(JSON.parse(Buffer.from(out[1] as string, 'base64url').toString('utf8')), { tenant: 'acme', 'org.unit': 'x' });
});

test('nothing configured: no writer', () => {
  assert.equal(compileIdentityHeaders({ authorization: 'forward', headers: { claims: {} } }), undefined);
});

test('headerValue: distinct strings give distinct values; a string that reads as JSON or has spaces a parser trims is JSON-encoded', () => {
  const pairs: [string, string][] = [
    ['Zoë', '"Zo\\u00eb"'],
    ['alice', ' alice '],
    ['admin', 'admin '],
  ];
  for (const [a, b] of pairs) assert.notEqual(headerValue(a), headerValue(b), `${a} vs ${b}`);
  assert.notEqual(headerValue(['admin']), headerValue('["admin"]'), 'an array and the string of its JSON');
  assert.equal(headerValue('"Zo\\u00eb"'), '"\\"Zo\\\\u00eb\\""');
  assert.equal(headerValue(' alice '), '" alice "');
  assert.equal(headerValue('[1]'), '"[1]"');
  assert.equal(headerValue('{"a":1}'), '"{\\"a\\":1}"');
  assert.deepEqual(['alice', 'a b', 'x@example.com', '42', ''].map(headerValue), ['alice', 'a b', 'x@example.com', '42', ''], 'plain values go as they are');
});

test('headerValue never yields CR, LF or non-ASCII', () => {
  for (const v of ['\r\n', 'é', '\u2028', { a: '\n' }, ['x\r']]) {
    assert.match(headerValue(v), /^[\x20-\x7e]*$/);
  }
});

test('inbound stripper: prefixes and names, case-insensitive config', () => {
  const s = compileInboundStripper({ prefixes: ['X-Gatehouse-', 'x-user-'], names: ['X-Tenant'] });
  assert.equal(s.strips(foldedHeaderName('x-gatehouse-sub')), true);
  assert.equal(s.strips(foldedHeaderName('x-user-id')), true);
  assert.equal(s.strips(foldedHeaderName('x-tenant')), true);
  assert.equal(s.strips(foldedHeaderName('x-tenantx')), false);
  assert.equal(s.strips(foldedHeaderName('accept')), false);
});

test('inbound stripper: underscore and dot spellings are stripped like hyphens (CGI servers and PHP read them all as HTTP_X_USER_ID)', () => {
  const s = compileInboundStripper({ prefixes: ['x-gatehouse-', 'X_User_'], names: ['x-tenant'] });
  for (const name of ['x_user_id', 'x-user_id', 'x_user-id', 'x_gatehouse_sub', 'x_tenant', 'x-user-id', 'x.user.id', 'x.tenant', 'x-gatehouse.sub', 'x~tenant']) {
    assert.equal(s.strips(foldedHeaderName(name)), true, name);
  }
  for (const name of ['x_tenantx', 'x_other', 'accept_language']) assert.equal(s.strips(foldedHeaderName(name)), false, name);
});
