import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GatehouseError } from '../errors.js';
import { MAX_RETURN_TO_LENGTH, returnToFor, safeReturnTo } from './return-to.js';

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

test('the length bound is on the normalized value that is stored, not on what came in', () => {
  // 1,005 characters in, 6,005 once percent-encoded (é is %C3%A9): refused, never a login that cannot seal.
  assert.throws(() => safeReturnTo(`/app/${'é'.repeat(1000)}`, ORIGIN), refused);
  assert.throws(() => safeReturnTo(`/app/${'"'.repeat(1000)}`, ORIGIN), refused, 'quotes are %22 in a path');
  const fits = `/app/${'é'.repeat((MAX_RETURN_TO_LENGTH - 5) / 6)}${'a'.repeat((MAX_RETURN_TO_LENGTH - 5) % 6)}`;
  assert.equal(safeReturnTo(fits, ORIGIN).length, MAX_RETURN_TO_LENGTH);
  assert.throws(() => safeReturnTo(`${fits}a`, ORIGIN), refused);
  assert.equal(safeReturnTo(`https://spa.example.com/${'a'.repeat(MAX_RETURN_TO_LENGTH - 24)}`, ORIGIN, ['https://spa.example.com']).length, MAX_RETURN_TO_LENGTH);
  assert.throws(() => safeReturnTo(`https://spa.example.com/${'a'.repeat(MAX_RETURN_TO_LENGTH - 23)}`, ORIGIN, ['https://spa.example.com']), refused);
});

test('returnToFor: what the gateway itself sends to login is always accepted; a long query is dropped, then a long path', () => {
  assert.equal(returnToFor('/app/home', '?x=1', ORIGIN), '/app/home?x=1');
  assert.equal(returnToFor('/app/home', '', ORIGIN), '/app/home');
  assert.equal(returnToFor('/app/search', `?q=${'a'.repeat(MAX_RETURN_TO_LENGTH)}`, ORIGIN), '/app/search');
  assert.equal(returnToFor(`/app/${'a'.repeat(MAX_RETURN_TO_LENGTH)}`, '?x=1', ORIGIN), '/');
  assert.equal(returnToFor(`/app/${'é'.repeat(400)}`, '', ORIGIN), '/', 'measured encoded');
  for (const [path, query] of [['/app/a', `?q=${'é'.repeat(400)}`], [`/${'a'.repeat(3000)}`, '']]) {
    const got = returnToFor(path as string, query as string, ORIGIN);
    assert.equal(safeReturnTo(got, ORIGIN), got, 'accepted as is by /auth/login');
  }
});
