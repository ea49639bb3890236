import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GatehouseError } from '../errors.js';
import { safeReturnTo } from './return-to.js';

const ORIGIN = 'https://app.example.com';
const refused = (e: unknown) => e instanceof GatehouseError && e.code === 'GH_BAD_REQUEST' && e.status === 400;

test('same-origin paths pass, normalized; absent means /', () => {
  assert.equal(safeReturnTo(undefined, ORIGIN), '/');
  assert.equal(safeReturnTo(null, ORIGIN), '/');
  assert.equal(safeReturnTo('', ORIGIN), '/');
  assert.equal(safeReturnTo('/a/b?c=1#d', ORIGIN), '/a/b?c=1#d');
  assert.equal(safeReturnTo('/a/../b', ORIGIN), '/b');
  assert.equal(safeReturnTo('/%2F%2Fevil.example', ORIGIN), '/%2F%2Fevil.example', 'an encoded slash stays a path on our origin');
  assert.equal(safeReturnTo('https://app.example.com/x', ORIGIN), 'https://app.example.com/x');
  assert.equal(safeReturnTo('https://spa.example.com/cb', ORIGIN, ['https://spa.example.com']), 'https://spa.example.com/cb');
  assert.equal(safeReturnTo('http://127.0.0.1:3000/cb', ORIGIN, ['http://127.0.0.1:3000']), 'http://127.0.0.1:3000/cb');
});

test('everything that could leave for another origin is refused', () => {
  const allow = ['https://spa.example.com'];
  for (const raw of [
    '//evil.example',
    '///evil.example',
    '/.//evil.example',
    '/..//evil.example',
    '/a/..//evil.example',
    '/%2e%2e//evil.example',
    '/%2E//evil.example/x?y#z',
    '/\\evil.example',
    '\\\\evil.example',
    '/\t/evil.example',
    '/\n/evil.example',
    'https://evil.example',
    'https://spa.example.com.evil.example/',
    'https://user:pw@spa.example.com/',
    'http://spa.example.com/',
    'http://evil.example/',
    'javascript:alert(1)',
    'data:text/html,x',
    'evil.example',
    'ftp://spa.example.com/',
    `/${'a'.repeat(2100)}`,
  ]) {
    assert.throws(() => safeReturnTo(raw, ORIGIN, allow), refused, JSON.stringify(raw));
  }
});
