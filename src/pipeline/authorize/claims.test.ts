import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GatehouseError } from '../../errors.js';
import type { Identity } from '../context.js';
import { compileClaimCheck } from './claims.js';

function identity(claims: Record<string, unknown>): Identity {
  return {
    source: 'jwt',
    issuer: 'https://issuer.test',
    subject: 'alice',
    clientId: undefined,
    scopes: new Set(),
    claims,
    expiresAt: 0,
    tokenId: undefined,
    accessToken: 'x',
  };
}

function passes(conditions: Parameters<typeof compileClaimCheck>[0], claims: Record<string, unknown>): boolean {
  const check = compileClaimCheck(conditions);
  assert.ok(check);
  try {
    check(identity(claims));
    return true;
  } catch (err) {
    assert.ok(err instanceof GatehouseError);
    assert.equal(err.code, 'GH_CLAIM_MISMATCH');
    assert.equal(err.status, 403);
    return false;
  }
}

test('no conditions compile to nothing', () => {
  assert.equal(compileClaimCheck([]), undefined);
});

test('equals compares type and value', () => {
  assert.equal(passes([{ claim: 'tenant', equals: 'acme' }], { tenant: 'acme' }), true);
  assert.equal(passes([{ claim: 'tenant', equals: 'acme' }], { tenant: 'evil' }), false);
  assert.equal(passes([{ claim: 'level', equals: 3 }], { level: '3' }), false);
  assert.equal(passes([{ claim: 'admin', equals: true }], { admin: true }), true);
  assert.equal(passes([{ claim: 'tenant', equals: 'acme' }], {}), false);
});

test('oneOf', () => {
  assert.equal(passes([{ claim: 'tier', oneOf: ['gold', 'silver'] }], { tier: 'gold' }), true);
  assert.equal(passes([{ claim: 'tier', oneOf: ['gold', 'silver'] }], { tier: 'bronze' }), false);
  assert.equal(passes([{ claim: 'tier', oneOf: ['gold'] }], { tier: ['gold'] }), false);
});

test('contains: arrays and space-separated strings', () => {
  assert.equal(passes([{ claim: 'roles', contains: 'admin' }], { roles: ['user', 'admin'] }), true);
  assert.equal(passes([{ claim: 'roles', contains: 'admin' }], { roles: ['user'] }), false);
  assert.equal(passes([{ claim: 'roles', contains: 'admin' }], { roles: 'user admin' }), true);
  assert.equal(passes([{ claim: 'roles', contains: 'adm' }], { roles: 'user admin' }), false);
  assert.equal(passes([{ claim: 'roles', contains: 'admin' }], { roles: { admin: true } }), false);
});

test('present', () => {
  assert.equal(passes([{ claim: 'email', present: true }], { email: 'a@b' }), true);
  assert.equal(passes([{ claim: 'email', present: true }], {}), false);
  assert.equal(passes([{ claim: 'act', present: false }], {}), true);
  assert.equal(passes([{ claim: 'act', present: false }], { act: { sub: 'x' } }), false);
});

test('dotted paths walk nested objects; a literal dotted name wins', () => {
  const c = [{ claim: 'realm_access.roles', contains: 'admin' }];
  assert.equal(passes(c, { realm_access: { roles: ['admin'] } }), true);
  assert.equal(passes(c, { realm_access: { roles: ['user'] } }), false);
  assert.equal(passes(c, { realm_access: ['roles'] }), false);
  assert.equal(passes(c, { 'realm_access.roles': ['admin'] }), true);
});

test('paths never reach inherited properties', () => {
  assert.equal(passes([{ claim: 'constructor', present: true }], {}), false);
  assert.equal(passes([{ claim: 'a.toString', present: true }], { a: {} }), false);
});

test('every condition must hold', () => {
  const c = [
    { claim: 'tenant', equals: 'acme' },
    { claim: 'roles', contains: 'admin' },
  ];
  assert.equal(passes(c, { tenant: 'acme', roles: ['admin'] }), true);
  assert.equal(passes(c, { tenant: 'acme', roles: [] }), false);
});
