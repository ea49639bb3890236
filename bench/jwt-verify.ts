/**
 * Micro-benchmark of JWT verification strategies (a script, not a test):
 *
 *   node .build/<you>/bench/jwt-verify.js [iterations]
 *
 * For RS256, ES256 and EdDSA tokens never seen before, compares jose's
 * `jwtVerify` and `compactVerify` (WebCrypto, asynchronous) with node:crypto
 * `verify` on a KeyObject imported once, and Gatehouse's own verifier (parse,
 * claims, node:crypto) on the never-seen, cached and invalid-signature paths.
 * Prints CPU µs per verify (and wall µs) of a sequential loop, median of three rounds.
 */
import { KeyObject, verify as cryptoVerify, type webcrypto } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compactVerify, decodeJwt, decodeProtectedHeader, importJWK, jwtVerify, type JWK } from 'jose';
import { generateTestKey, mintToken, startJwksServer, testIssuerOptions, type TestAlgorithm } from '../test/helpers/jwt.js';
import { verifySignature } from '../src/tokens/jwt/algorithms.js';
import { parseCompactJws } from '../src/tokens/jwt/parse.js';
import { createTokenVerifier } from '../src/tokens/jwt/verifier.js';

const N = Number(process.argv[2] ?? 3000);
const ISS = 'https://issuer.test';

/**
 * CPU µs per call (user + system, all threads, so threadpool work counts), the
 * figure that decides throughput on a busy two-core machine; wall µs printed
 * beside it. Median of ROUNDS rounds over fresh copies of the input.
 */
const ROUNDS = 3;
async function time(label: string, make: () => readonly string[], fn: (t: string) => unknown): Promise<number> {
  const cpu: number[] = [];
  const wall: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    // Warm up on a batch of its own (fresh tokens stay unseen): 200 calls left the
    // first algorithm measured still paying for V8's tier-up.
    for (const t of make().slice(0, 1000)) await fn(t);
    const tokens = make();
    const c0 = process.cpuUsage();
    const w0 = process.hrtime.bigint();
    for (const t of tokens) await fn(t);
    wall.push(Number(process.hrtime.bigint() - w0) / 1000 / tokens.length);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / tokens.length);
  }
  const med = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  if (!warmingUp) console.log(`  ${label.padEnd(48)} cpu ${med(cpu).toFixed(2).padStart(8)} µs   wall ${med(wall).toFixed(2).padStart(8)} µs`);
  return med(cpu);
}

// The whole table is measured twice and the first pass thrown away: whatever came first used to
// pay for V8's tier-up and the heap's growth (RS256, measured first, read 29–50 µs for a new
// valid token; measured after ES256 in the same process, 28–37).
let warmingUp = true;
let rows: string[] = [];
const jwks = await startJwksServer([]);
const pemDir = mkdtempSync(join(tmpdir(), 'gatehouse-jwt-verify-'));
try {
  for (const pass of [1, 2]) {
    warmingUp = pass === 1;
    rows = [];
    if (warmingUp) console.log('warm-up pass (not reported)…');
    for (const alg of ['RS256', 'ES256', 'EdDSA'] as TestAlgorithm[]) {
      const key = generateTestKey(alg);
      jwks.setKeys([key]);
      const claims = { iss: ISS, aud: 'api', sub: 'bench', scope: 'orders:read orders:write' };
      const fresh = () => Array.from({ length: N }, (_, i) => mintToken(key, { ...claims, jti: `${alg}-${i}-${Math.random()}` }));
      const cryptoKey = await importJWK(key.publicJwk as JWK, alg);
      const keyObject = KeyObject.from(cryptoKey as webcrypto.CryptoKey);
      if (!warmingUp) console.log(`${alg} (${N} never-seen tokens per row)`);

      const r: Record<string, number> = {};
      r.jwtVerify = await time('jose jwtVerify (CryptoKey)', fresh, (t) => jwtVerify(t, cryptoKey, { issuer: ISS, audience: 'api', algorithms: [alg] }));
      r.compactVerify = await time('jose compactVerify (CryptoKey)', fresh, (t) => compactVerify(t, cryptoKey, { algorithms: [alg] }));
      r.joseDecode = await time('jose decodeProtectedHeader + decodeJwt only', fresh, (t) => {
        decodeProtectedHeader(t);
        decodeJwt(t);
      });
      r.parse = await time('Gatehouse parseCompactJws only', fresh, (t) => parseCompactJws(t));
      r.nodeVerify = await time('parse + node:crypto verify (KeyObject)', fresh, (t) => {
        const p = parseCompactJws(t);
        if (!verifySignature(alg as 'RS256', keyObject, p.signingInput, p.signature)) throw new Error('bad');
      });
      r.nodeVerifyAsync = await time('parse + node:crypto verify, async (threadpool)', fresh, (t) => {
        const p = parseCompactJws(t);
        return new Promise<void>((res, rej) =>
          cryptoVerify(alg === 'EdDSA' ? null : 'sha256', p.signingInput, alg === 'ES256' ? { key: keyObject, dsaEncoding: 'ieee-p1363' } : keyObject, p.signature, (err, ok) =>
            err || !ok ? rej(err ?? new Error('bad')) : res(),
          ),
        );
      });

      const verifier = createTokenVerifier([testIssuerOptions({ jwksUri: jwks.uri, algorithms: [alg] })], { cacheMaxEntries: 10_000 });
      await verifier.ready;
      // As the gateway calls it: synchronously, falling back to the promise only when keys must be fetched.
      const decide = (t: string) => verifier.verifySync?.(t) ?? verifier.verify(t).catch((err: unknown) => err);
      r.gatehouseFresh = await time('Gatehouse verify, never seen (cache on)', fresh, decide);
      const one = mintToken(key, claims);
      r.gatehouseCached = await time('Gatehouse verify, one token repeated (cached)', () => Array(N).fill(one), decide);
      const tamper = (t: string) => `${t.slice(0, -6)}${t.endsWith('AAAAAA') ? 'BBBBBB' : 'AAAAAA'}`;
      const tampered = () => fresh().map(tamper);
      r.gatehouseBadFresh = await time('Gatehouse verify, bad signature, each new', tampered, decide);
      const oneBad = tamper(one);
      r.gatehouseBadRepeat = await time('Gatehouse verify, bad signature, repeated', () => Array(N).fill(oneBad), decide);
      verifier.close();

      // The configuration `npm run bench` gives the gateway: a static public key file and one algorithm.
      const pemFile = join(pemDir, `${alg}.pem`);
      writeFileSync(pemFile, keyObject.export({ type: 'spki', format: 'pem' }));
      const staticVerifier = createTokenVerifier([testIssuerOptions({ publicKey: pemFile, algorithms: [alg] })], { cacheMaxEntries: 10_000 });
      await staticVerifier.ready;
      const decideStatic = (t: string) => staticVerifier.verifySync?.(t) ?? staticVerifier.verify(t).catch((err: unknown) => err);
      r.gatehouseStatic = await time('Gatehouse verify, never seen, static key (bench config)', fresh, decideStatic);
      staticVerifier.close();
      rows.push(
        `| ${alg} | ${r.jwtVerify!.toFixed(1)} | ${r.compactVerify!.toFixed(1)} | ${r.nodeVerify!.toFixed(1)} | ${r.nodeVerifyAsync!.toFixed(1)} | ${r.gatehouseFresh!.toFixed(1)} | ${r.gatehouseStatic!.toFixed(1)} | ${r.gatehouseCached!.toFixed(2)} | ${r.gatehouseBadFresh!.toFixed(1)} | ${r.gatehouseBadRepeat!.toFixed(2)} | ${r.joseDecode!.toFixed(2)} | ${r.parse!.toFixed(2)} |`,
      );
    }
  }
} finally {
  await jwks.close();
  rmSync(pemDir, { recursive: true, force: true });
}
console.log('\n| alg | jose jwtVerify | jose compactVerify | node:crypto sync | node:crypto async | Gatehouse never seen (JWKS) | never seen, static key | Gatehouse cached | bad sig (new) | bad sig (repeat) | jose decode | our parse |');
console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
for (const row of rows) console.log(row);
console.log(`\nCPU µs per verify (median of ${ROUNDS} rounds), sequential, Node ${process.version}, ${N} tokens per round.`);
