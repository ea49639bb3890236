import assert from 'node:assert/strict';
import { after, before, beforeEach, test } from 'node:test';
import { closedPortUrl, startIntrospectionStub, type IntrospectionStub } from '../../../test/helpers/introspection.js';
import { IntrospectionSchema } from '../../config/schema.js';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { GatewayMetrics } from '../../admin/metrics.js';
import { GatehouseError, type ErrorCode } from '../../errors.js';
import { createLogger } from '../../log.js';
import { waitUntil } from '../../../test/helpers/wait.js';
import { createIntrospectionClient, type IntrospectionClient } from './client.js';

const T0 = 1_800_000_000_000;
let clock = T0;
const now = () => clock;
const nowS = () => Math.floor(clock / 1000);

let stub: IntrospectionStub;
const clients: IntrospectionClient[] = [];

before(async () => {
  stub = await startIntrospectionStub();
});
after(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await stub.close();
});
beforeEach(() => {
  clock = T0;
  stub.mode = 'ok';
  stub.tokens.clear();
  stub.requests = 0;
  stub.delayMs = 0;
  stub.metadataIssuer = undefined;
});

function client(overrides: Record<string, unknown> = {}, opts: Parameters<typeof createIntrospectionClient>[1] = {}): IntrospectionClient {
  const cfg = IntrospectionSchema.parse({
    endpoint: stub.endpoint,
    issuer: stub.issuer,
    clientId: stub.clientId,
    clientSecret: stub.clientSecret,
    audience: 'orders-api',
    clockSkew: 0,
    ...overrides,
  });
  const c = createIntrospectionClient(cfg, { now, ...opts });
  clients.push(c);
  return c;
}

function activeToken(token: string, extra: Record<string, unknown> = {}): void {
  stub.tokens.set(token, {
    active: true,
    iss: stub.issuer,
    sub: 'alice',
    client_id: 'demo-service',
    aud: 'orders-api',
    scope: 'orders:read orders:write',
    exp: nowS() + 300,
    iat: nowS(),
    token_type: 'Bearer',
    ...extra,
  });
}

async function rejectsWith(p: Promise<unknown>, code: ErrorCode): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof GatehouseError, String(err));
    assert.equal(err.code, code);
    return true;
  });
}

test('an active token maps to an identity; the request is an authenticated RFC 7662 form POST', async () => {
  const c = client();
  activeToken('tok-active-1', { jti: 'id-1' });
  const id = await c.introspect('tok-active-1');
  assert.equal(id.source, 'opaque');
  assert.equal(id.issuer, stub.issuer);
  assert.equal(id.subject, 'alice');
  assert.equal(id.clientId, 'demo-service');
  assert.deepEqual([...id.scopes], ['orders:read', 'orders:write']);
  assert.equal(id.expiresAt, nowS() + 300);
  assert.equal(id.tokenId, 'id-1');
  assert.equal(id.accessToken, 'tok-active-1');
  assert.ok(Object.isFrozen(id.claims));
  assert.equal(stub.last?.form.get('token'), 'tok-active-1');
  assert.equal(stub.last?.form.get('token_type_hint'), 'access_token');
  assert.equal(stub.last?.authorization, `Basic ${Buffer.from('gateway:gateway-secret').toString('base64')}`);
});

test('active answers are reused up to cacheMaxAge, then asked again (a revocation shows within the bound)', async () => {
  const c = client({ cacheMaxAge: '30s' });
  activeToken('tok-cached');
  await c.introspect('tok-cached');
  stub.tokens.set('tok-cached', { active: false }); // revoked at the server
  clock += 29_000;
  assert.equal((await c.introspect('tok-cached')).subject, 'alice');
  assert.equal(stub.requests, 1);
  clock += 1_000;
  await rejectsWith(c.introspect('tok-cached'), 'GH_TOKEN_INACTIVE');
  assert.equal(stub.requests, 2);
});

test('an active answer is never reused past the token exp', async () => {
  const c = client({ cacheMaxAge: '30s' });
  activeToken('tok-short', { exp: nowS() + 10 });
  await c.introspect('tok-short');
  clock += 9_000;
  await c.introspect('tok-short');
  assert.equal(stub.requests, 1);
  clock += 1_000;
  await rejectsWith(c.introspect('tok-short'), 'GH_TOKEN_EXPIRED');
  assert.equal(stub.requests, 2);
});

test('an active answer without exp is accepted and reused for cacheMaxAge, then asked again', async () => {
  const c = client({ cacheMaxAge: '30s' });
  activeToken('tok-no-exp', { exp: undefined });
  assert.equal((await c.introspect('tok-no-exp')).subject, 'alice');
  clock += 29_000;
  assert.equal((await c.introspect('tok-no-exp')).subject, 'alice');
  assert.equal(stub.requests, 1);
  stub.tokens.set('tok-no-exp', { active: false });
  clock += 1_000;
  await rejectsWith(c.introspect('tok-no-exp'), 'GH_TOKEN_INACTIVE');
  assert.equal(stub.requests, 2);
});

test('inactive answers are cached for inactiveCacheMaxAge only', async () => {
  const c = client({ inactiveCacheMaxAge: '5s' });
  await rejectsWith(c.introspect('tok-unknown'), 'GH_TOKEN_INACTIVE');
  clock += 4_000;
  await rejectsWith(c.introspect('tok-unknown'), 'GH_TOKEN_INACTIVE');
  assert.equal(stub.requests, 1);
  activeToken('tok-unknown'); // e.g. issued just now under that value
  clock += 1_000;
  assert.equal((await c.introspect('tok-unknown')).subject, 'alice');
  assert.equal(stub.requests, 2);
});

test('introspectCached answers from the cache alone: identity, the cached refusal, or undefined (then introspect asks once)', async () => {
  const c = client({ cacheMaxAge: '30s', inactiveCacheMaxAge: '5s' });
  activeToken('tok-sync');
  assert.equal(c.introspectCached('tok-sync'), undefined, 'nothing cached yet');
  assert.equal(stub.requests, 0, 'a cache lookup never asks the endpoint');
  assert.equal((await c.introspect('tok-sync')).subject, 'alice');
  assert.equal(c.introspectCached('tok-sync')?.subject, 'alice');
  clock += 30_000;
  assert.equal(c.introspectCached('tok-sync'), undefined, 'past cacheMaxAge');
  assert.equal(stub.requests, 1);

  await rejectsWith(c.introspect('tok-gone'), 'GH_TOKEN_INACTIVE');
  assert.throws(() => c.introspectCached('tok-gone'), (e: unknown) => e instanceof GatehouseError && e.code === 'GH_TOKEN_INACTIVE');
  assert.equal(c.introspectCached('has space'), undefined, 'a malformed value is never in the cache');
  await rejectsWith(c.introspect('has space'), 'GH_TOKEN_MALFORMED');
  assert.equal(stub.requests, 2);
});

test('concurrent lookups of one token share a single request', async () => {
  const c = client();
  activeToken('tok-flight');
  const release = stub.hold();
  const all = Promise.all(Array.from({ length: 25 }, () => c.introspect('tok-flight')));
  // Let the one request reach the server before releasing it.
  while (stub.requests === 0) await new Promise((r) => setTimeout(r, 5));
  release();
  const ids = await all;
  assert.equal(ids.length, 25);
  assert.ok(ids.every((i) => i.subject === 'alice'));
  assert.equal(stub.requests, 1);
});

/**
 * A real endpoint that judges the token when the question arrives (active until `revoke()`), then
 * answers only when `answerAll()` is called: a slow authorization server.
 */
async function startSlowJudge(): Promise<{ endpoint: string; questions: () => number; revoke: () => void; answerAll: () => void; close: () => Promise<void> }> {
  let revoked = false;
  let questions = 0;
  const pending: (() => void)[] = [];
  const server = createHttpServer((req, res) => {
    req.resume();
    req.on('end', () => {
      questions++;
      const answer = revoked
        ? { active: false }
        : { active: true, iss: stub.issuer, sub: 'alice', aud: 'orders-api', scope: 'orders:read', exp: nowS() + 3600 };
      pending.push(() => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer)));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}/introspect`,
    questions: () => questions,
    revoke: () => (revoked = true),
    answerAll: () => {
      for (const answer of pending.splice(0)) answer();
    },
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}

/** Answers every question until all of `lookups` have settled (a lookup that asked again is answered too). */
async function answerUntilSettled(judge: { answerAll: () => void }, lookups: Promise<unknown>[]): Promise<void> {
  let settled = 0;
  for (const l of lookups) l.then(() => settled++, () => settled++);
  await waitUntil(() => {
    judge.answerAll();
    return settled === lookups.length;
  }, 'every lookup settled');
}

test('a lookup joins an exchange in flight only while its question is younger than cacheMaxAge: a revocation shows within the bound however slow the answer', async (t) => {
  const judge = await startSlowJudge();
  t.after(() => judge.close());
  const c = client({ endpoint: judge.endpoint, cacheMaxAge: 10, timeoutMs: 60_000 });
  const passes = (p: Promise<unknown>) => p.then(() => 'passed', (e: unknown) => (e instanceof GatehouseError ? e.code : String(e)));

  const first = passes(c.introspect('tok-revocable'));
  await waitUntil(() => judge.questions() === 1, 'the question reached the endpoint');
  clock += 5_000;
  const joined = passes(c.introspect('tok-revocable')); // the question is 5 s old: its answer is within the bound
  judge.revoke();
  clock += 6_000;
  // 11 s after the only question in flight: its answer may predate a revocation by more than cacheMaxAge.
  const late = passes(c.introspect('tok-revocable'));
  const joinsLate = passes(c.introspect('tok-revocable')); // the new question is not sent yet: joined
  await answerUntilSettled(judge, [first, joined, late, joinsLate]);
  assert.deepEqual([await first, await joined, await late, await joinsLate], ['passed', 'passed', 'GH_TOKEN_INACTIVE', 'GH_TOKEN_INACTIVE']);
  assert.equal(judge.questions(), 2);
  // The refusal stands in the cache: the older question's active answer, which arrived with it, did not replace it.
  assert.throws(() => c.introspectCached('tok-revocable'), (e: unknown) => e instanceof GatehouseError && e.code === 'GH_TOKEN_INACTIVE');
});

test('with cacheMaxAge 0 a lookup never takes the answer of a question already sent', async (t) => {
  const judge = await startSlowJudge();
  t.after(() => judge.close());
  const c = client({ endpoint: judge.endpoint, cacheMaxAge: 0, timeoutMs: 60_000 });
  const first = c.introspect('tok-uncached');
  await waitUntil(() => judge.questions() === 1, 'the question reached the endpoint');
  judge.revoke();
  const second = c.introspect('tok-uncached').then(() => 'passed', (e: unknown) => (e as GatehouseError).code);
  await answerUntilSettled(judge, [first, second]);
  assert.equal((await first).subject, 'alice');
  assert.equal(await second, 'GH_TOKEN_INACTIVE');
  assert.equal(judge.questions(), 2);
});

const FAILURES = ['hang', 'reset', '500', 'not-json', 'bad-active', 'huge', 'html', 'jsonp'] as const;
for (const mode of FAILURES) {
  test(`endpoint failure "${mode}" is 503 GH_INTROSPECTION_UNAVAILABLE, not cached, and recovers`, async () => {
    const c = client({ timeoutMs: 300, maxResponseBytes: 16 * 1024 });
    activeToken('tok-fail');
    stub.mode = mode;
    await rejectsWith(c.introspect('tok-fail'), 'GH_INTROSPECTION_UNAVAILABLE');
    assert.equal(c.cacheSize, 0);
    stub.mode = 'ok';
    assert.equal((await c.introspect('tok-fail')).subject, 'alice');
  });
}

test('a connection reset is retried once on a fresh connection; a second reset is 503', async () => {
  const c = client();
  activeToken('tok-reset');
  stub.mode = 'reset-once';
  assert.equal((await c.introspect('tok-reset')).subject, 'alice');
  assert.equal(stub.requests, 2);
  stub.mode = 'reset';
  await rejectsWith(c.introspect('tok-reset-2'), 'GH_INTROSPECTION_UNAVAILABLE');
  assert.equal(stub.requests, 4);
});

test('the retry after a reset runs within the same deadline: a lookup never takes a second timeoutMs', async () => {
  // The first attempt is reset 200 ms in; the retry would be answered 200 ms after it started,
  // inside a fresh 300 ms but after the lookup's 300 ms have run out.
  const c = client({ timeoutMs: 300 });
  activeToken('tok-late-reset');
  stub.delayMs = 200;
  stub.mode = 'reset-once';
  await assert.rejects(c.introspect('tok-late-reset'), (err: unknown) => {
    assert.ok(err instanceof GatehouseError);
    assert.equal(err.code, 'GH_INTROSPECTION_UNAVAILABLE');
    assert.equal((err.cause as Error).message, 'request failed: timeout');
    return true;
  });
  assert.ok(stub.requests <= 2);
});

test('endpoint down (nothing listening) is 503; a cached token still passes', async () => {
  const c = client({ endpoint: await closedPortUrl() });
  await rejectsWith(c.introspect('tok-down'), 'GH_INTROSPECTION_UNAVAILABLE');

  const warm = client();
  activeToken('tok-warm');
  await warm.introspect('tok-warm');
  stub.mode = '500';
  assert.equal((await warm.introspect('tok-warm')).subject, 'alice');
  await rejectsWith(warm.introspect('tok-cold'), 'GH_INTROSPECTION_UNAVAILABLE');
});

test('a network failure is logged with its error code (never the token)', async () => {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(chunk.toString('utf8'));
      cb();
    },
  });
  const c = client({ endpoint: await closedPortUrl() }, { logger: createLogger('warn', sink) });
  await rejectsWith(c.introspect('tok-logged'), 'GH_INTROSPECTION_UNAVAILABLE');
  assert.equal(lines.length, 1);
  const line = JSON.parse(lines[0]!) as Record<string, unknown>;
  assert.equal(line.code, 'ECONNREFUSED');
  assert.equal(line.reason, 'request failed: network (ECONNREFUSED)');
  assert.ok(!lines[0]!.includes('tok-logged'));
});

test('lookups at the endpoint are counted by result in gatehouse_introspection_requests_total', async () => {
  const metrics = new GatewayMetrics({ collectDefault: false });
  const c = client({}, { metrics });
  activeToken('tok-counted');
  await c.introspect('tok-counted');
  await c.introspect('tok-counted'); // cached: no request
  await rejectsWith(c.introspect('tok-unknown-counted'), 'GH_TOKEN_INACTIVE');
  stub.mode = '500';
  await rejectsWith(c.introspect('tok-500'), 'GH_INTROSPECTION_UNAVAILABLE');
  stub.mode = 'jsonp';
  await rejectsWith(c.introspect('tok-jsonp'), 'GH_INTROSPECTION_UNAVAILABLE');
  const down = client({ endpoint: await closedPortUrl() }, { metrics });
  await rejectsWith(down.introspect('tok-down'), 'GH_INTROSPECTION_UNAVAILABLE');
  const { values } = await metrics.introspectionRequests.get();
  const counts = Object.fromEntries(values.map((v) => [v.labels.result, v.value]));
  assert.deepEqual(counts, { active: 1, refused: 1, bad_status: 1, bad_response: 1, network: 1 });
});

test('failures before or without an answer are counted by their own result: client_rejected, timeout, overloaded, discovery_failed', async () => {
  const metrics = new GatewayMetrics({ collectDefault: false });
  const rejected = client({ clientSecret: 'not-the-secret' }, { metrics });
  await rejectsWith(rejected.introspect('tok-bad-creds'), 'GH_INTROSPECTION_UNAVAILABLE');
  // One slot and one place in the queue: the first lookup hangs until its deadline, the second
  // waits for the slot until its own, the third finds the queue full.
  const narrow = client({ maxConcurrentRequests: 1, timeoutMs: 300 }, { metrics });
  stub.mode = 'hang';
  await Promise.all(['tok-h1', 'tok-h2', 'tok-h3'].map((t) => rejectsWith(narrow.introspect(t), 'GH_INTROSPECTION_UNAVAILABLE')));
  const undiscoverable = client({ endpoint: undefined, issuer: new URL(await closedPortUrl('/')).origin }, { metrics });
  await rejectsWith(undiscoverable.introspect('tok-nowhere'), 'GH_INTROSPECTION_UNAVAILABLE');
  const { values } = await metrics.introspectionRequests.get();
  const counts = Object.fromEntries(values.map((v) => [v.labels.result, v.value]));
  assert.deepEqual(counts, { client_rejected: 1, timeout: 2, overloaded: 1, discovery_failed: 1 });
});

test('wrong gateway client credentials are 503 (an operator fault), not 401', async () => {
  const c = client({ clientSecret: 'not-the-secret' });
  activeToken('tok-creds');
  await rejectsWith(c.introspect('tok-creds'), 'GH_INTROSPECTION_UNAVAILABLE');
});

test('a token the endpoint cannot introspect (unsupported_token_type) is 401 GH_TOKEN_INVALID', async () => {
  const c = client();
  stub.mode = 'unsupported';
  await rejectsWith(c.introspect('a.b.c'), 'GH_TOKEN_INVALID');
});

const REFUSALS: [string, Record<string, unknown>, ErrorCode][] = [
  ['another audience', { aud: 'billing-api' }, 'GH_TOKEN_INVALID'],
  ['no audience (e.g. a refresh token)', { aud: undefined, token_type: undefined }, 'GH_TOKEN_INVALID'],
  ['another issuer', { iss: 'https://evil.example' }, 'GH_TOKEN_INVALID'],
  ['sender-constrained', { cnf: { jkt: 'x' } }, 'GH_TOKEN_INVALID'],
  ['not a bearer token', { token_type: 'N_A' }, 'GH_TOKEN_INVALID'],
  ['a refresh token by token_use (Ory Hydra)', { token_use: 'refresh_token', aud: ['orders-api'], token_type: undefined }, 'GH_TOKEN_INVALID'],
  ['expired', { exp: T0 / 1000 - 1 }, 'GH_TOKEN_EXPIRED'],
  ['not yet valid', { nbf: T0 / 1000 + 60 }, 'GH_TOKEN_INVALID'],
];
for (const [name, extra, code] of REFUSALS) {
  test(`an active answer for a token with ${name} is refused with ${code}`, async () => {
    const c = client();
    activeToken('tok-refused', extra);
    await rejectsWith(c.introspect('tok-refused'), code);
  });
}

test('an access token marked token_use access_token (Ory Hydra) passes', async () => {
  const c = client();
  activeToken('tok-hydra', { token_use: 'access_token', aud: ['orders-api'], token_type: undefined });
  assert.equal((await c.introspect('tok-hydra')).subject, 'alice');
});

test('an audience list accepts any one of its values', async () => {
  const c = client({ audience: ['billing-api', 'orders-api'] });
  activeToken('tok-aud', { aud: ['orders-api', 'other'] });
  assert.equal((await c.introspect('tok-aud')).subject, 'alice');
});

test('malformed bearer values are refused without a round trip', async () => {
  const c = client();
  for (const bad of ['has space', 'x'.repeat(8193), 'semi;colon', '']) {
    await rejectsWith(c.introspect(bad), 'GH_TOKEN_MALFORMED');
  }
  assert.equal(stub.requests, 0);
});

test('the cache is bounded by cacheMaxEntries', async () => {
  const c = client({ cacheMaxEntries: 2 });
  for (const t of ['tok-a', 'tok-b', 'tok-c']) {
    activeToken(t);
    await c.introspect(t);
  }
  assert.equal(c.cacheSize, 2);
});

test('refusals are cached apart: a flood of unknown tokens does not evict a cached active answer', async () => {
  const c = client({ cacheMaxEntries: 10 });
  activeToken('tok-kept');
  await c.introspect('tok-kept');
  for (let i = 0; i < 50; i++) await rejectsWith(c.introspect(`tok-made-up-${i}`), 'GH_TOKEN_INACTIVE');
  assert.equal(stub.requests, 51);
  assert.equal((await c.introspect('tok-kept')).subject, 'alice');
  assert.equal(stub.requests, 51, 'answered from the cache');
  assert.equal(c.cacheSize, 2, 'the active answer and one refusal (a tenth of cacheMaxEntries)');
});

test('at most maxConcurrentRequests exchanges run at once, as many wait, and the rest fail at once with 503', async () => {
  const c = client({ maxConcurrentRequests: 4, timeoutMs: 60_000 });
  stub.maxInFlight = 0;
  const release = stub.hold();
  let refused = 0;
  const lookups = Array.from({ length: 20 }, (_, i) =>
    c.introspect(`tok-flood-${i}`).then(
      () => 'active',
      (err: unknown) => {
        assert.ok(err instanceof GatehouseError);
        if (err.code === 'GH_INTROSPECTION_UNAVAILABLE') {
          assert.equal(err.status, 503);
          refused++;
        }
        return err.code;
      },
    ),
  );
  try {
    // While the server holds every answer: 4 requests reach it, 4 wait, 12 are refused without waiting.
    await waitUntil(() => stub.requests + refused >= 16, '16 lookups reaching the server or refused');
    assert.equal(stub.requests, 4);
    assert.equal(refused, 12, 'refused while the server still holds the first four');
  } finally {
    release();
  }
  const codes = await Promise.all(lookups);
  assert.equal(codes.filter((x) => x === 'GH_TOKEN_INACTIVE').length, 8);
  assert.equal(codes.filter((x) => x === 'GH_INTROSPECTION_UNAVAILABLE').length, 12);
  assert.equal(stub.requests, 8);
  assert.ok(stub.maxInFlight <= 4, `at most 4 at the server at once, saw ${stub.maxInFlight}`);
});

test('the endpoint is discovered from the issuer metadata', async () => {
  const c = client({ endpoint: undefined });
  activeToken('tok-disc');
  assert.equal((await c.introspect('tok-disc')).subject, 'alice');
});

test('prefetch discovers the endpoint ahead of the first lookup, and never rejects', async () => {
  const c = client({ endpoint: undefined });
  await c.prefetch();
  stub.metadataIssuer = 'https://other.example'; // would fail now: the endpoint is already known
  activeToken('tok-pre');
  assert.equal((await c.introspect('tok-pre')).subject, 'alice');
  const down = client({ endpoint: undefined, issuer: new URL(await closedPortUrl('/')).origin });
  await down.prefetch();
  await rejectsWith(down.introspect('tok-pre'), 'GH_INTROSPECTION_UNAVAILABLE');
});

/** A server that accepts connections and never answers; its origin as an issuer. */
async function withSilentIssuer(fn: (issuer: string, held: Set<Socket>) => Promise<void>): Promise<void> {
  const held = new Set<Socket>();
  const silent = createServer((socket) => void held.add(socket));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  try {
    await fn(`http://127.0.0.1:${(silent.address() as AddressInfo).port}`, held);
  } finally {
    for (const socket of held) socket.destroy();
    await new Promise<void>((resolve) => silent.close(() => resolve()));
  }
}

test('a metadata endpoint that never answers costs timeoutMs, then 503 (the exchange runs under a deadline)', async () => {
  await withSilentIssuer(async (issuer, held) => {
    const c = client({ endpoint: undefined, issuer, timeoutMs: 300 });
    await assert.rejects(c.introspect('tok-silent'), (err: unknown) => {
      assert.ok(err instanceof GatehouseError);
      assert.equal(err.code, 'GH_INTROSPECTION_UNAVAILABLE');
      // The lookup's deadline and the discovery's own end together; either may speak first.
      const why = err.cause as Error;
      if (why.message === 'metadata request failed') assert.equal((why.cause as { reason?: unknown }).reason, 'timeout');
      else assert.equal(why.message, "timed out waiting for the endpoint's discovery");
      return true;
    });
    assert.equal(held.size, 1, 'one metadata request was made');
  });
});

test('lookups waiting for discovery count against maxConcurrentRequests: the rest are refused at once as overloaded', async () => {
  await withSilentIssuer(async (issuer) => {
    const c = client({ endpoint: undefined, issuer, timeoutMs: 400, maxConcurrentRequests: 1 });
    const causes = await Promise.all(
      [1, 2, 3, 4, 5].map((i) =>
        c.introspect(`tok-wait-${i}`).then(
          () => 'passed',
          (err: unknown) => ((err as Error).cause as Error).message,
        ),
      ),
    );
    // One lookup discovers (and times out), one waits for its slot, three find the queue full.
    assert.equal(causes.filter((m) => m.startsWith('overloaded')).length, 3, causes.join(' | '));
    assert.match(causes[0]!, /^(metadata request failed|timed out waiting for the endpoint's discovery)$/);
  });
});

test('a discovery runs within timeoutMs of its own: one started late in a queued lookup\'s time does not fail the lookups that join it', async () => {
  // The first OpenID metadata request fails after 2 s, the next ones answer after 2 s; RFC 8414's document is not there.
  // Every step has about a second of margin, so a loaded machine's stalls do not reorder them.
  let metadataRequests = 0;
  const metadata = createHttpServer((req, res) => {
    if (req.url !== '/.well-known/openid-configuration') return void res.writeHead(404).end();
    const first = ++metadataRequests === 1;
    setTimeout(() => {
      if (first) return void res.writeHead(500).end();
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ issuer, introspection_endpoint: stub.endpoint }));
    }, 2000);
  });
  await new Promise<void>((resolve) => metadata.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(metadata.address() as AddressInfo).port}`;
  try {
    const c = client({ endpoint: undefined, issuer, timeoutMs: 3000, maxConcurrentRequests: 2 });
    activeToken('tok-joins-late', { iss: issuer });
    const outcome = (p: Promise<unknown>) => p.then(() => 'passed', (err: unknown) => ((err as Error).cause as Error).message);
    // Two lookups hold both slots through the failed first discovery; a third waits for a slot.
    const first = [outcome(c.introspect('tok-x1')), outcome(c.introspect('tok-x2'))];
    await new Promise((r) => setTimeout(r, 40));
    const queued = outcome(c.introspect('tok-queued'));
    assert.deepEqual(await Promise.all(first), ['metadata answered 500', 'metadata answered 500']);
    // The queued lookup starts the second discovery with about 1 s of its deadline left, less than the 2 s it takes.
    await new Promise((r) => setTimeout(r, 20));
    const joining = outcome(c.introspect('tok-joins-late'));
    assert.equal(await queued, "timed out waiting for the endpoint's discovery");
    assert.equal(await joining, 'passed', 'the lookup that joined the discovery got its answer within its own deadline');
    assert.equal(metadataRequests, 2);
  } finally {
    await new Promise<void>((resolve) => metadata.close(() => resolve()));
  }
});

test('a cached answer lives cacheMaxAge from when the question was sent, not from when the answer arrived', async () => {
  const c = client({ cacheMaxAge: 30 });
  activeToken('tok-slow-answer', { exp: nowS() + 3600 });
  stub.delayMs = 300;
  const first = c.introspect('tok-slow-answer');
  await waitUntil(() => stub.requests === 1, 'the question reached the endpoint');
  clock += 20_000; // the answer is on its way for 20 s of the gateway's clock
  assert.equal((await first).subject, 'alice');
  stub.delayMs = 0;
  clock += 5_000; // 25 s after the question: still served from the cache
  await c.introspect('tok-slow-answer');
  assert.equal(stub.requests, 1);
  clock += 6_000; // 31 s after the question, 11 s after the answer
  await c.introspect('tok-slow-answer');
  assert.equal(stub.requests, 2, 'asked again once cacheMaxAge after the question had passed');
});

test('metadata naming another issuer is refused (503), then discovery is retried', async () => {
  const c = client({ endpoint: undefined });
  activeToken('tok-disc2');
  stub.metadataIssuer = 'https://other.example';
  await rejectsWith(c.introspect('tok-disc2'), 'GH_INTROSPECTION_UNAVAILABLE');
  assert.equal(stub.requests, 0);
  stub.metadataIssuer = undefined;
  assert.equal((await c.introspect('tok-disc2')).subject, 'alice');
});
