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

test('escapes of characters a path segment holds raw are decoded (unreserved, sub-delims but `;`, `:`, `@`), others kept with upper-case hex', () => {
  assert.equal(normalizePath('/%61pi/%6Frders'), '/api/orders');
  assert.equal(normalizePath('/a%7eb%2Dc%5f'), '/a~b-c_');
  assert.equal(normalizePath('/users/%40me'), '/users/@me');
  assert.equal(normalizePath('/odata/%24batch'), '/odata/$batch');
  assert.equal(normalizePath('/v1/orders%3acancel'), '/v1/orders:cancel');
  assert.equal(normalizePath('/%21%26%27%28%29%2a%2c%3D'), "/!&'()*,=");
  assert.equal(normalizePath('/files/a%2bb'), '/files/a%2Bb', 'a form-style path decoder reads a raw + as a space');
  assert.equal(normalizePath('/a%3bb'), '/a%3Bb', 'servlet containers decode %3B only after dropping ;parameters');
  assert.equal(normalizePath('/caf%c3%a9'), '/caf%C3%A9');
  assert.equal(normalizePath('/a%20b'), '/a%20b');
  assert.equal(normalizePath('/a%3fb'), '/a%3Fb');
  assert.equal(normalizePath('/a%5bb%5D'), '/a%5Bb%5D');
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
    '/caf\u00e9', // beyond ASCII: Node refuses it in a request, so a route written so could never match
    '/a\u2028b',
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
