import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GatehouseError } from '../errors.js';
import { normalizePath } from './normalize-path.js';

test('ordinary paths come back unchanged (and as the same string)', () => {
  for (const p of ['/', '/api/orders', '/api/orders/1', '/a/b.json', '/a/b/', '/a-b_c~d/e.f', '/%25']) {
    assert.equal(normalizePath(p), p);
  }
});

test('dot segments are resolved, never above the root', () => {
  const cases: [string, string][] = [
    ['/public/../api/orders', '/api/orders'],
    ['/a/./b', '/a/b'],
    ['/a/b/..', '/a/'],
    ['/a/b/.', '/a/b/'],
    ['/../../etc/passwd', '/etc/passwd'],
    ['/..', '/'],
    ['/.', '/'],
    ['/a/...', '/a/...'],
    ['/a/.hidden', '/a/.hidden'],
  ];
  for (const [input, want] of cases) assert.equal(normalizePath(input), want, input);
});

test('encoded dots count as dots', () => {
  assert.equal(normalizePath('/public/%2e%2e/api/orders'), '/api/orders');
  assert.equal(normalizePath('/public/%2E%2E/api/orders'), '/api/orders');
  assert.equal(normalizePath('/public/.%2e/api/orders'), '/api/orders');
  assert.equal(normalizePath('/a/%2e/b'), '/a/b');
});

test('duplicate slashes collapse', () => {
  assert.equal(normalizePath('//api//orders'), '/api/orders');
  assert.equal(normalizePath('/api///orders//'), '/api/orders/');
  assert.equal(normalizePath('//'), '/');
});

test('unreserved escapes are decoded, others kept with upper-case hex', () => {
  assert.equal(normalizePath('/%61pi/%6Frders'), '/api/orders');
  assert.equal(normalizePath('/a%7eb%2Dc%5f'), '/a~b-c_');
  assert.equal(normalizePath('/a%20b'), '/a%20b');
  assert.equal(normalizePath('/a%3fb'), '/a%3Fb');
  assert.equal(normalizePath('/%252e%252e/x'), '/%252e%252e/x', 'double encoding is decoded once only: no second pass');
});

test('case is preserved (the router, not the normalizer, ignores it)', () => {
  assert.equal(normalizePath('/API/Orders'), '/API/Orders');
});

function assertRejected(path: string): void {
  assert.throws(
    () => normalizePath(path),
    (err: unknown) => err instanceof GatehouseError && err.code === 'GH_PATH_REJECTED' && err.status === 400,
    path,
  );
}

test('encoded slashes, backslashes, control characters and bad escapes are rejected', () => {
  for (const p of [
    '/public%2F..%2Fapi',
    '/public%2f..%2fapi',
    '/public\\..\\api',
    '/public%5C..%5Capi',
    '/a%00b',
    '/a%0d%0ab',
    '/a%7f',
    '/a\u0000b',
    '/a\tb',
    '/a b',
    '/a%2',
    '/a%zz',
    '/a#frag',
  ]) {
    assertRejected(p);
  }
});

test('path parameters are rejected (servers that strip ;params would route the path differently)', () => {
  assertRejected('/public/..;/api/orders');
  assertRejected('/public/%2e%2e;x=1/api');
  assertRejected('/a/.;/b');
  assertRejected('/a;b/c');
  assertRejected('/api/orders;jsessionid=1');
  assertRejected('/api;/orders');
  assert.equal(normalizePath('/a%3Bb/c'), '/a%3Bb/c', 'an encoded ; is decoded after parameters are removed: it stays');
  assert.equal(normalizePath('/a%3bb'), '/a%3Bb');
});

test('targets that are not absolute paths are rejected', () => {
  assertRejected('http://evil.test/api');
  assertRejected('*');
  assertRejected('');
});
