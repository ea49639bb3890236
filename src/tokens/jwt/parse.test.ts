import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GatehouseError } from '../../errors.js';
import { b64 } from '../../../test/helpers/jwt.js';
import { looksLikeJwt, MAX_TOKEN_LENGTH, parseCompactJws } from './parse.js';

const H = b64('{"alg":"RS256"}');
const P = b64('{"sub":"a"}');

test('looksLikeJwt: exactly three dot-separated segments', () => {
  assert.equal(looksLikeJwt(`${H}.${P}.sig`), true);
  assert.equal(looksLikeJwt(`${H}.${P}.`), true); // unsecured: ours to reject
  assert.equal(looksLikeJwt('a..b'), true);
  assert.equal(looksLikeJwt('opaque'), false);
  assert.equal(looksLikeJwt('a.b'), false);
  assert.equal(looksLikeJwt('a.b.c.d.e'), false);
});

test('parses header, payload, signing input and signature', () => {
  const p = parseCompactJws(`${H}.${P}.${Buffer.from([1, 2, 3]).toString('base64url')}`);
  assert.deepEqual(p.header, { alg: 'RS256' });
  assert.deepEqual(p.payload, { sub: 'a' });
  assert.equal(p.signingInput.toString(), `${H}.${P}`);
  assert.deepEqual([...p.signature], [1, 2, 3]);
});

for (const [name, token] of [
  ['empty header', `.${P}.c2ln`],
  ['empty payload', `${H}..c2ln`],
  ['four segments', `${H}.${P}.c2ln.x`],
  ['padding characters', `${H}=.${P}.c2ln`],
  ['standard base64 alphabet', `${H}.${P}.ab+/`],
  ['whitespace', `${H}.${P} .c2ln`],
  ['impossible length', `${H}.${P}.abcde`],
  // Spellings that Buffer decodes to the same bytes as the canonical one (checked below).
  ['signature with non-zero unused bits', `${H}.${P}.AB`],
  ['payload with non-zero unused bits', `${H}.${P.slice(0, -1)}1.c2ln`],
  ['invalid UTF-8 in the payload', `${H}.${Buffer.from([0x7b, 0xff, 0x7d]).toString('base64url')}.c2ln`],
  ['payload is a JSON string', `${H}.${b64('"x"')}.c2ln`],
  ['payload is null', `${H}.${b64('null')}.c2ln`],
  ['header is an array', `${b64('[]')}.${P}.c2ln`],
  ['too large', `${H}.${b64(JSON.stringify({ x: 'a'.repeat(MAX_TOKEN_LENGTH) }))}.c2ln`],
] as const) {
  test(`malformed: ${name}`, () => {
    // The claims are decoded when first read: a malformed payload is refused there at the latest.
    assert.throws(() => parseCompactJws(token).payload, (e: unknown) => e instanceof GatehouseError && e.code === 'GH_TOKEN_MALFORMED');
  });
}

test('non-canonical spellings in the cases above are the same bytes to a lenient decoder', () => {
  assert.deepEqual(Buffer.from('AB', 'base64url'), Buffer.from('AA', 'base64url'));
  assert.equal(P.at(-1), '0');
  assert.deepEqual(Buffer.from(`${P.slice(0, -1)}1`, 'base64url'), Buffer.from(P, 'base64url'));
});

test('the claims are decoded only when read, once', () => {
  const broken = parseCompactJws(`${H}.${b64('nope')}.c2ln`);
  assert.deepEqual(broken.header, { alg: 'RS256' });
  assert.throws(() => broken.payload, (e: unknown) => e instanceof GatehouseError && e.message === 'token payload is not a JSON object');
  const p = parseCompactJws(`${H}.${P}.c2ln`);
  assert.equal(p.payload, p.payload);
});

test('a header seen before decodes to the same frozen object; every distinct header to its own', () => {
  const a = parseCompactJws(`${H}.${P}.c2ln`).header;
  assert.equal(parseCompactJws(`${H}.${b64('{"sub":"b"}')}.c2ln`).header, a);
  assert.ok(Object.isFrozen(a));
  // More distinct headers than the bounded map holds: each still decodes to its own content.
  for (let i = 0; i < 300; i++) {
    const header = { alg: 'RS256', kid: `k${i}` };
    assert.deepEqual(parseCompactJws(`${b64(JSON.stringify(header))}.${P}.c2ln`).header, header);
  }
  assert.deepEqual(parseCompactJws(`${H}.${P}.c2ln`).header, { alg: 'RS256' });
  // A long header (not kept) decodes as well, twice.
  const long = { alg: 'RS256', kid: 'x'.repeat(600) };
  for (let i = 0; i < 2; i++) assert.deepEqual(parseCompactJws(`${b64(JSON.stringify(long))}.${P}.c2ln`).header, long);
});

test('a malformed header is refused every time, also after a good one with the same payload', () => {
  parseCompactJws(`${H}.${P}.c2ln`);
  for (let i = 0; i < 2; i++) {
    assert.throws(
      () => parseCompactJws(`${b64('{nope')}.${P}.c2ln`),
      (e: unknown) => e instanceof GatehouseError && e.code === 'GH_TOKEN_MALFORMED' && e.message === 'token header is not a JSON object',
    );
  }
});
