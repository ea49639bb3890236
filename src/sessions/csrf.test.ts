import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GatehouseError } from '../errors.js';
import { checkCsrf, csrfCookie, isUnsafeMethod, type CsrfOptions } from './csrf.js';

const opts: CsrfOptions = { publicOrigin: 'https://app.example.com', allowedOrigins: ['https://admin.example.com'], doubleSubmit: false };
const rejected = (e: unknown) => e instanceof GatehouseError && e.code === 'GH_CSRF_REJECTED' && e.status === 403;
const none = new Map<string, string>();

test('safe methods are never checked', () => {
  for (const m of ['GET', 'HEAD', 'OPTIONS']) {
    assert.equal(isUnsafeMethod(m), false);
    checkCsrf(m, { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' }, none, opts);
  }
  for (const m of ['POST', 'PUT', 'PATCH', 'DELETE']) assert.equal(isUnsafeMethod(m), true);
});

test('unsafe methods need Sec-Fetch-Site: same-origin or an allowed Origin', () => {
  checkCsrf('POST', { 'sec-fetch-site': 'same-origin' }, none, opts);
  checkCsrf('POST', { origin: 'https://app.example.com' }, none, opts);
  checkCsrf('DELETE', { origin: 'https://admin.example.com', 'sec-fetch-site': 'same-site' }, none, opts);
  for (const headers of [
    {},
    { origin: 'null' },
    { origin: 'https://evil.example' },
    { origin: 'https://app.example.com.evil.example' },
    { 'sec-fetch-site': 'cross-site' },
    { 'sec-fetch-site': 'same-site' },
    { 'sec-fetch-site': 'none' },
    { 'sec-fetch-site': 'cross-site', origin: 'https://evil.example' },
  ]) {
    assert.throws(() => checkCsrf('POST', headers, none, opts), rejected, JSON.stringify(headers));
  }
});

test('double submit: header must equal the cookie, compared in constant time', () => {
  const ds = { ...opts, doubleSubmit: true };
  const cookie = csrfCookie(ds);
  assert.match(cookie, /^__Host-gh_csrf=[A-Za-z0-9_-]{32}; Path=\/; Secure; SameSite=Lax$/, 'readable by JS: no HttpOnly');
  const token = cookie.split(';')[0]?.split('=')[1] as string;
  const jar = new Map([['__Host-gh_csrf', token]]);
  const same = { origin: 'https://app.example.com' };
  checkCsrf('POST', { ...same, 'x-csrf-token': token }, jar, ds);
  assert.throws(() => checkCsrf('POST', same, jar, ds), rejected);
  assert.throws(() => checkCsrf('POST', { ...same, 'x-csrf-token': `${token}x` }, jar, ds), rejected);
  assert.throws(() => checkCsrf('POST', { ...same, 'x-csrf-token': token }, none, ds), rejected);
  assert.throws(() => checkCsrf('POST', { origin: 'https://evil.example', 'x-csrf-token': token }, jar, ds), rejected, 'the token does not excuse a foreign origin');
});
