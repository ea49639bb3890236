import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes, sign, verify } from 'node:crypto';
import { test } from 'node:test';
import { p1363ToDer } from './ecdsa-der.js';

test('DER of hand-picked r || s: leading zeros dropped, a 0x00 before a set high bit, zero kept as one byte', () => {
  const sig = Buffer.alloc(64);
  sig[31] = 0x01; // r = 1
  sig[32] = 0x80; // s = 0x80 followed by 31 zero bytes
  const s = Buffer.concat([Buffer.from([0x00, 0x80]), Buffer.alloc(31)]);
  assert.deepEqual(p1363ToDer(sig), Buffer.concat([Buffer.from([0x30, 3 + 2 + 33, 0x02, 0x01, 0x01, 0x02, 33]), s]));
  assert.deepEqual(p1363ToDer(Buffer.alloc(64)), Buffer.from([0x30, 6, 0x02, 1, 0, 0x02, 1, 0]));
});

test('ES256, ES384 and ES512 signatures verify as DER after the conversion; an altered one does not', () => {
  for (const [curve, digest] of [['prime256v1', 'sha256'], ['secp384r1', 'sha384'], ['secp521r1', 'sha512']] as const) {
    const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: curve });
    // Enough signatures that short (leading-zero) and high-bit halves both occur.
    for (let i = 0; i < 300; i++) {
      const data = randomBytes(40);
      const p1363 = sign(digest, data, { key: privateKey, dsaEncoding: 'ieee-p1363' });
      const der = p1363ToDer(p1363);
      assert.equal(verify(digest, data, publicKey, der), true, `${curve} #${i}`);
      if (i % 50 === 0) {
        p1363[5] = (p1363[5] as number) ^ 1;
        assert.equal(verify(digest, data, publicKey, p1363ToDer(p1363)), false, `${curve} altered #${i}`);
      }
    }
  }
});
