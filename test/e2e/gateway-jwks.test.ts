/**
 * The gateway in front of a real upstream and a real JWKS endpoint whose keys
 * and behaviour change while requests flow: rotation without restart, an
 * endpoint that breaks after loading, one that never loads, and a flood of
 * unknown kids.
 */
import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import { GatewayMetrics } from '../../src/admin/metrics.js';
import { validateConfig } from '../../src/config/load.js';
import { startGateway, type Gateway } from '../../src/gateway.js';
import { createLogger } from '../../src/log.js';
import { call } from '../helpers/gateway.js';
import { generateTestKey, mintToken, startJwksServer, testIssuerOptions, type JwksServer, type TestKey } from '../helpers/jwt.js';
import { startEchoUpstream, type EchoUpstream } from '../helpers/upstream.js';

const ISS = 'https://issuer.test';
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface Stack {
  gw: Gateway;
  jwks: JwksServer;
  upstream: EchoUpstream;
  metrics: GatewayMetrics;
  get(token: string): Promise<{ status: number; code?: string }>;
  /** Status of GET /readyz on the admin listener. */
  readyz(): Promise<number>;
}

/** Gateway + upstream + JWKS; does not wait for keys (a test may start with the endpoint broken). */
async function stack(
  keys: TestKey[],
  jwksLimits: Record<string, number>,
  behaviour: 'ok' | 'down' | 'garbage' = 'ok',
  onLog?: (line: string) => void,
): Promise<Stack> {
  const upstream = await startEchoUpstream();
  cleanups.push(() => upstream.close());
  const jwks = await startJwksServer(keys);
  jwks.setBehaviour(behaviour);
  cleanups.push(() => jwks.close());
  const config = validateConfig({
    listen: { host: '127.0.0.1', port: 0 },
    admin: { enabled: true, host: '127.0.0.1', port: 0 },
    logging: { level: 'silent' },
    security: {
      jwt: testIssuerOptions({
        issuer: ISS,
        jwksUri: jwks.uri,
        clockSkew: 5,
        jwks: { timeoutMs: 1000, maxBytes: 64 * 1024, cacheMaxAge: 600, cooldown: 30, ...jwksLimits },
      }),
    },
    routes: [{ path: '/api', upstream: upstream.url }],
  });
  const metrics = new GatewayMetrics({ collectDefault: false });
  const logger = onLog ? createLogger('warn', { write: (line: string) => void onLog(line) }) : createLogger('silent');
  const gw = await startGateway(config, { logger, metrics });
  cleanups.push(() => gw.close());
  return {
    gw,
    jwks,
    upstream,
    metrics,
    async get(token) {
      const res = await call(`${gw.url}/api/x`, { headers: { authorization: `Bearer ${token}` } });
      return { status: res.status, code: res.status === 200 ? undefined : res.json<{ code: string }>().code };
    },
    async readyz() {
      return (await call(`${gw.adminUrl}/readyz`)).status;
    },
  };
}

const claims = { iss: ISS, aud: 'api', sub: 'alice' };

/** Reads `gatehouse_token_cache_total{cache="jwt",result="hit"}`. */
async function cacheHits(metrics: GatewayMetrics): Promise<number> {
  const text = await metrics.registry.metrics();
  return Number(/gatehouse_token_cache_total\{cache="jwt",result="hit"\} (\d+)/.exec(text)?.[1] ?? 0);
}

test('a cache age beyond what a timer holds (40 days) refreshes on the longest timer, not in a loop', async () => {
  const a = generateTestKey('ES256', 'long-a');
  const s = await stack([a], { cacheMaxAge: 40 * 86_400 });
  await s.gw.ready;
  assert.equal((await s.get(mintToken(a, claims))).status, 200);
  // Node fires a timer of more than 2^31-1 ms after 1 ms: the refresh at 30 days would run at once, again and again.
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(s.jwks.fetchCount, 1, `JWKS fetched ${s.jwks.fetchCount} times in 300 ms`);
});

test('key rotation through the gateway: no valid request fails, the dropped key stops working', async () => {
  const a = generateTestKey('RS256', 'rot-a');
  const b = generateTestKey('ES256', 'rot-b');
  // The shortest cache lifetime: a background refresh every 0.75 s.
  const s = await stack([a], { cacheMaxAge: 1, cooldown: 30 });
  await s.gw.ready;
  const old = mintToken(a, claims);
  assert.equal((await s.get(old)).status, 200);
  assert.equal((await s.get(old)).status, 200); // stored at its second verification
  const hits = await cacheHits(s.metrics);
  assert.equal((await s.get(old)).status, 200);
  assert.equal(await cacheHits(s.metrics), hits + 1, 'served from the token cache');

  let signer = a;
  let running = true;
  const statuses: number[] = [];
  const loop = (async () => {
    while (running) statuses.push((await s.get(mintToken(signer, { ...claims, jti: String(statuses.length) }))).status);
  })();
  // Let some traffic flow on the old key, then publish the new one and switch the signer.
  while (statuses.length < 5) await new Promise((r) => setImmediate(r));
  s.jwks.setKeys([a, b]);
  signer = b;
  const switchedAt = statuses.length;
  while (statuses.length < switchedAt + 10) await new Promise((r) => setImmediate(r));
  // Retire the old key; wait for two background refreshes to have passed.
  s.jwks.setKeys([b]);
  await s.jwks.waitForFetches(s.jwks.fetchCount + 2);
  running = false;
  await loop;

  assert.deepEqual(statuses.filter((x) => x !== 200), []);
  assert.ok(statuses.length >= switchedAt + 10);
  assert.deepEqual(await s.get(old), { status: 401, code: 'GH_TOKEN_INVALID' });
  assert.deepEqual(await s.get(mintToken(a, claims)), { status: 401, code: 'GH_TOKEN_INVALID' });
  assert.equal((await s.get(mintToken(b, claims))).status, 200);
});

for (const behaviour of ['down', 'garbage', 'oversized', 'slow', 'error'] as const) {
  test(`JWKS ${behaviour} after loading: last good keys keep serving`, async () => {
    const a = generateTestKey('EdDSA');
    let failed!: () => void;
    const backgroundFailure = new Promise<void>((resolve) => (failed = resolve));
    const s = await stack([a], { cacheMaxAge: 1, timeoutMs: 300, maxBytes: 16 * 1024 }, 'ok', (line) => {
      if (line.includes('signing keys unavailable')) failed();
    });
    await s.gw.ready;
    s.jwks.setBehaviour(behaviour);
    // A background refresh (0.75 s after loading) fails, and says so in the log.
    await backgroundFailure;
    for (let i = 0; i < 3; i++) assert.equal((await s.get(mintToken(a, claims))).status, 200);
    assert.equal(await s.readyz(), 200);
    const errors = (await s.metrics.jwksFetches.get()).values.find((v) => v.labels.result === 'error');
    assert.ok(errors && errors.value >= 1);
  });
}

test('JWKS never loaded: 503 GH_KEYS_UNAVAILABLE, not ready; serves once the endpoint recovers', async () => {
  const a = generateTestKey('PS256');
  const logLines: string[] = [];
  const s = await stack([a], { cooldown: 1, cacheMaxAge: 1, timeoutMs: 300 }, 'down', (line) => logLines.push(line));
  assert.deepEqual(await s.get(mintToken(a, claims)), { status: 503, code: 'GH_KEYS_UNAVAILABLE' });
  // The operator is told why, once per failed fetch, naming the issuer.
  const warning = logLines.map((l) => JSON.parse(l) as { msg?: string; issuer?: string; reason?: string }).find((l) => l.msg === 'signing keys unavailable');
  assert.ok(warning, 'a failed JWKS fetch is logged');
  assert.match(warning.reason ?? '', /JWKS fetch failed/);
  assert.equal(await s.readyz(), 503, 'GET /readyz on the admin listener');
  s.jwks.setBehaviour('garbage');
  await s.jwks.waitForFetches(s.jwks.fetchCount + 1);
  assert.equal((await s.get(mintToken(a, claims))).status, 503);
  assert.equal(await s.readyz(), 503);
  s.jwks.setBehaviour('ok');
  await s.gw.ready;
  assert.equal(await s.readyz(), 200);
  assert.equal((await s.get(mintToken(a, claims))).status, 200);
});

test('a flood of unknown kids through the gateway costs at most one JWKS fetch per cooldown', async () => {
  const a = generateTestKey('ES256');
  const s = await stack([a], { cooldown: 30 });
  await s.gw.ready;
  const before = s.jwks.fetchCount;
  const results = await Promise.all(Array.from({ length: 100 }, (_, i) => s.get(mintToken(a, claims, { kid: `nope-${i}` }))));
  assert.ok(results.every((r) => r.status === 401 && r.code === 'GH_TOKEN_INVALID'));
  assert.ok(s.jwks.fetchCount - before <= 1, `fetches: ${s.jwks.fetchCount - before}`);
  assert.equal((await s.get(mintToken(a, claims))).status, 200);
});

test('an issuer that withdraws every key: at the next refresh its tokens get 401, cached ones too; /readyz stays 200; the log says so once', async () => {
  const a = generateTestKey('RS256', 'withdrawn');
  const warnings: { issuer?: string; reason?: string }[] = [];
  const s = await stack([a], { cacheMaxAge: 1, cooldown: 30 }, 'ok', (line) => {
    const entry = JSON.parse(line) as { msg?: string; issuer?: string; reason?: string };
    if (entry.msg === 'signing keys unavailable') warnings.push(entry);
  });
  await s.gw.ready;
  const old = mintToken(a, claims);
  for (let i = 0; i < 3; i++) assert.equal((await s.get(old)).status, 200);
  // The issuer re-publishes its key for encryption only: nothing left to verify with.
  s.jwks.setKeys([{ ...a.publicJwk, use: 'enc' }]);
  // Background refreshes every 0.75 s: the third request after the change proves two refreshes were handled.
  await s.jwks.waitForFetches(s.jwks.fetchCount + 3);
  assert.deepEqual(await s.get(old), { status: 401, code: 'GH_TOKEN_INVALID' });
  assert.deepEqual(await s.get(mintToken(a, { ...claims, jti: 'fresh' })), { status: 401, code: 'GH_TOKEN_INVALID' });
  assert.equal(await s.readyz(), 200);
  assert.equal(warnings.length, 1, 'said once, not at every refresh');
  assert.equal(warnings[0]!.issuer, ISS);
  assert.equal(warnings[0]!.reason, 'JWKS has no usable key for the allowed algorithms: every token is refused (kid withdrawn not a signature key)');
});

test('a gateway started on a JWKS with no usable key is ready, refuses its tokens with 401 (not 503) and says why', async () => {
  const a = generateTestKey('ES256', 'later');
  const warnings: string[] = [];
  let warned!: () => void;
  const firstWarning = new Promise<void>((resolve) => (warned = resolve));
  const s = await stack([], {}, 'ok', (line) => {
    const entry = JSON.parse(line) as { msg?: string; reason?: string };
    if (entry.msg !== 'signing keys unavailable') return;
    warnings.push(entry.reason ?? '');
    warned();
  });
  // Said as the set is installed, before the issuer turns ready.
  await firstWarning;
  assert.deepEqual(warnings, ['JWKS has no usable key for the allowed algorithms: every token is refused']);
  assert.equal(await s.readyz(), 200);
  assert.deepEqual(await s.get(mintToken(a, claims)), { status: 401, code: 'GH_TOKEN_INVALID' });
});
