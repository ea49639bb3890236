import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GatehouseError } from '../errors.js';
import { clearCookie, parseCookies, serializeCookie, withoutCookies } from './cookies.js';

test('parseCookies reads pairs, trims, unquotes, keeps the first of a name', () => {
  const m = parseCookies('a=1; b = two ;c="q"; a=shadow; novalue; =anon; d=');
  assert.deepEqual([...m], [['a', '1'], ['b', 'two'], ['c', 'q'], ['d', '']]);
  assert.deepEqual([...parseCookies(['x=1', 'y=2'])], [['x', '1'], ['y', '2']]);
  assert.equal(parseCookies(undefined).size, 0);
  assert.equal(parseCookies('').size, 0);
});

test('parseCookies trims only spaces and tabs, and drops names that are not tokens: \\xA0__Host-gh_sid is not __Host-gh_sid', () => {
  // Node reads header bytes as latin1: a raw 0xA0 arrives as U+00A0, which String.prototype.trim() strips.
  const planted = parseCookies('\u00a0__Host-gh_sid=attacker; __Host-gh_sid=victim');
  assert.equal(planted.get('__Host-gh_sid'), 'victim');
  assert.equal(planted.has('\u00a0__Host-gh_sid'), false, 'not a token: dropped');
  const csrf = parseCookies('__Host-gh_csrf\u00a0=planted; __Host-gh_csrf=real');
  assert.equal(csrf.get('__Host-gh_csrf'), 'real');
  assert.equal(parseCookies(' \t a=1\t ; b = 2 ').get('b'), '2', 'spaces and tabs still trimmed');
});

test('parseCookies is bounded: too many pairs or bytes is 431', () => {
  const tooLarge = (err: unknown) => err instanceof GatehouseError && err.code === 'GH_HEADERS_TOO_LARGE' && err.status === 431;
  const many = Array.from({ length: 101 }, (_, i) => `c${i}=v`).join('; ');
  assert.throws(() => parseCookies(many), tooLarge);
  assert.equal(parseCookies(many, { maxCookies: 200 }).size, 101);
  assert.throws(() => parseCookies(`a=${'x'.repeat(20000)}`), tooLarge);
  assert.throws(() => parseCookies('a=1; b=2; c=3', { maxCookies: 2 }), tooLarge);
  assert.throws(() => parseCookies('a=12345', { maxBytes: 4 }), tooLarge);
});

test('serializeCookie defaults to a __Host- safe, HttpOnly, Secure, Lax cookie', () => {
  assert.equal(serializeCookie('__Host-gh_sid', 'abc', { maxAgeSeconds: 3600 }), '__Host-gh_sid=abc; Path=/; Max-Age=3600; Secure; HttpOnly; SameSite=Lax');
  assert.equal(serializeCookie('t', 'v', { httpOnly: false, sameSite: 'Strict' }), 't=v; Path=/; Secure; SameSite=Strict');
  assert.throws(() => serializeCookie('__Host-x', 'v', { secure: false }), RangeError);
  assert.throws(() => serializeCookie('bad name', 'v'), RangeError);
  for (const v of ['a;b', 'a b', 'a,b', 'a"b', 'a\\b', 'é', 'a\nb']) assert.throws(() => serializeCookie('n', v), RangeError, v);
  assert.equal(
    clearCookie('__Host-gh_sid'),
    '__Host-gh_sid=; Path=/; Max-Age=0; Secure; HttpOnly; SameSite=Lax; Expires=Thu, 01 Jan 1970 00:00:00 GMT',
  );
});

test('withoutCookies drops the selected cookies and keeps the rest verbatim', () => {
  const drop = (n: string) => n.startsWith('__Host-gh_');
  assert.equal(withoutCookies('theme=dark; __Host-gh_sid=abc; lang=en', drop), 'theme=dark; lang=en');
  assert.equal(withoutCookies('__Host-gh_s.0=1~x; __Host-gh_s.1=y', drop), undefined);
  assert.equal(withoutCookies(['a=1', '__Host-gh_sid=z'], drop), 'a=1');
  assert.equal(withoutCookies(undefined, drop), undefined);
  assert.equal(withoutCookies(' __Host-gh_sid = abc ;b=2', drop), 'b=2', 'spaces around the name do not smuggle it through');
  // An upstream reading cookies with trim() would take this one for the session cookie.
  assert.equal(withoutCookies('\u00a0__Host-gh_sid=abc; b=2', drop), 'b=2');
});
