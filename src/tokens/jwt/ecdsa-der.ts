/**
 * JWS carries an ECDSA signature as r || s, each half of fixed length (RFC 7518
 * §3.4); node:crypto reads that form only through an options object
 * (`dsaEncoding: 'ieee-p1363'`), which costs about 20 µs more per ES256 verify
 * on Node 24 than a bare KeyObject with the DER form (measured with
 * bench/jwt-verify.ts). So the signature is re-encoded as DER:
 * `SEQUENCE { INTEGER r, INTEGER s }`, each INTEGER minimal (leading zero bytes
 * dropped, one 0x00 added when the high bit is set, as the value is unsigned).
 *
 * Only an encoding: whether r and s are in range is OpenSSL's to judge (zero
 * or oversized values fail verification there).
 */
export function p1363ToDer(signature: Buffer): Buffer {
  const half = signature.length >>> 1;
  const r = integer(signature, 0, half);
  const s = integer(signature, half, half * 2);
  const length = r.length + s.length;
  // ES512's halves are 66 bytes: the sequence then needs the long length form.
  const head = length < 0x80 ? [0x30, length] : [0x30, 0x81, length];
  return Buffer.concat([Buffer.from(head), r, s]);
}

function integer(sig: Buffer, start: number, end: number): Buffer {
  let from = start;
  while (from < end - 1 && sig[from] === 0) from++;
  const pad = ((sig[from] as number) & 0x80) === 0 ? 0 : 1;
  const size = pad + end - from;
  const out = Buffer.alloc(2 + size);
  out[0] = 0x02;
  out[1] = size;
  sig.copy(out, 2 + pad, from, end);
  return out;
}
