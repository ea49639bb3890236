import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { request } from 'undici';
import { validateConfig } from '../../src/config/load.js';
import { startGateway, type Gateway } from '../../src/gateway.js';
import { createLogger } from '../../src/log.js';
import { call, startTestGateway } from '../helpers/gateway.js';
import { closesWithin, openConnection, refusedWithin, responseOn } from '../helpers/raw-connection.js';
import { waitUntil } from '../helpers/wait.js';
import { generateTestKey, mintToken, startJwksServer, testIssuerOptions } from '../helpers/jwt.js';
import { refusedPort, startEchoUpstream, STREAM_FIRST, STREAM_REST } from '../helpers/upstream.js';

const base = { listen: { host: '127.0.0.1', port: 0 }, admin: { enabled: false } };

test('reload swaps routes atomically; a bad config is refused and the old one keeps serving', async () => {
  const a = await startEchoUpstream();
  const b = await startEchoUpstream();
  const t = await startTestGateway({ routes: [{ path: '/svc', upstream: a.url, auth: 'none' }] });
  try {
    assert.equal((await call(`${t.gw.url}/svc/1`)).status, 200);
    assert.equal(a.received.length, 1);

    await t.gw.reload(validateConfig({ ...base, routes: [{ path: '/svc', upstream: b.url, auth: 'none' }, { path: '/new', upstream: b.url, auth: 'none' }] }));
    assert.equal((await call(`${t.gw.url}/svc/2`)).status, 200);
    assert.equal((await call(`${t.gw.url}/new`)).status, 200);
    assert.equal(a.received.length, 1, 'the old upstream no longer receives');
    assert.equal(b.received.length, 2);

    // Route rules are part of the schema: such a file never becomes a Config to reload (SIGHUP
    // re-reads the file through the same validation, see main.test.ts).
    assert.throws(
      () => validateConfig({ ...base, routes: [{ path: '/svc', upstream: a.url, auth: 'none', issuers: ['nobody'] }] }),
      /routes\.0\.issuers\.0: no issuer in security\.jwt is named nobody/,
    );
    assert.throws(
      () => validateConfig({ ...base, routes: [{ path: '/svc/../other//x', upstream: a.url, auth: 'none' }] }),
      /routes\.0\.path: write the path as \/other\/x/,
    );
    const moved = validateConfig({ ...base, listen: { host: '127.0.0.1', port: 1 }, routes: [{ path: '/svc', upstream: a.url, auth: 'none' }] });
    await assert.rejects(t.gw.reload(moved), /cannot change listen/);
    assert.equal((await call(`${t.gw.url}/new`)).status, 200, 'still on the last good configuration');
    assert.equal(b.received.length, 3);
    // Counted by the time the caller sees the outcome.
    const metrics = await t.metrics.registry.metrics();
    assert.match(metrics, /^gatehouse_config_reloads_total\{result="ok"\} 1$/m);
    assert.match(metrics, /^gatehouse_config_reloads_total\{result="rejected"\} 1$/m);
  } finally {
    await t.close();
    await a.close();
    await b.close();
  }
});

test('an in-flight request finishes on the configuration it started with, even when its upstream is dropped', async () => {
  const up = await startEchoUpstream();
  const other = await startEchoUpstream();
  const t = await startTestGateway({ routes: [{ path: '/old', upstream: up.url, auth: 'none' }] });
  try {
    up.setMode('stream');
    const res = await request(`${t.gw.url}/old/x`);
    // Resolves while the old upstream's request is still running: a dropped pool closes in the background.
    await t.gw.reload(validateConfig({ ...base, routes: [{ path: '/other', upstream: other.url, auth: 'none' }] }));
    assert.equal((await call(`${t.gw.url}/other/y`)).status, 200);
    up.release();
    assert.equal(res.statusCode, 200);
    assert.equal(await res.body.text(), STREAM_FIRST + STREAM_REST);
    assert.equal((await call(`${t.gw.url}/old/x`)).status, 404);
  } finally {
    await t.close();
    await up.close();
    await other.close();
  }
});

test('a request still verifying its token when a reload moves its route finishes on the upstream it started with', async () => {
  const a = await startEchoUpstream();
  const b = await startEchoUpstream();
  const k1 = generateTestKey('ES256', 'k1');
  const k2 = generateTestKey('ES256', 'k2');
  // A JWKS endpoint whose answer the test holds back: the request with the new kid waits on it.
  let published = [k1];
  let hold: Promise<void> | undefined;
  let fetches = 0;
  let fetched: () => void = () => {};
  const jwks = createServer((_req, res) => {
    fetches++;
    fetched();
    void (hold ?? Promise.resolve()).then(() => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: published.map((k) => k.publicJwk) }));
    });
  });
  await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
  const cfg = (upstream: string) => ({
    security: { jwt: testIssuerOptions({ jwksUri: `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks` }) },
    routes: [{ path: '/api', upstream, auth: 'jwt' }],
  });
  const t = await startTestGateway(cfg(a.url));
  try {
    await t.gw.ready;
    const claims = { iss: 'https://issuer.test', aud: 'api', sub: 'u' };
    assert.equal((await call(`${t.gw.url}/api/warm`, { headers: { authorization: `Bearer ${mintToken(k1, claims)}` } })).status, 200);
    published = [k1, k2];
    let release!: () => void;
    hold = new Promise((resolve) => (release = resolve));
    const asked = new Promise<void>((resolve) => (fetched = resolve));
    const pending = call(`${t.gw.url}/api/inflight`, { headers: { authorization: `Bearer ${mintToken(k2, claims)}` } });
    await asked; // the unknown kid's re-fetch is under way
    await t.gw.reload(validateConfig({ ...base, ...cfg(b.url) }));
    release();
    const res = await pending;
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(a.received.map((r) => r.path), ['/api/warm', '/api/inflight']);
    assert.equal((await call(`${t.gw.url}/api/next`, { headers: { authorization: `Bearer ${mintToken(k2, claims)}` } })).status, 200);
    assert.deepEqual(b.received.map((r) => r.path), ['/api/next']);
    assert.ok(fetches >= 2);
  } finally {
    await t.close();
    await Promise.all([a.close(), b.close(), new Promise((resolve) => jwks.close(resolve))]);
  }
});

test('reload with JWT: the new key source verifies, the old one no longer does', async () => {
  const up = await startEchoUpstream();
  const k1 = generateTestKey('RS256');
  const k2 = generateTestKey('EdDSA');
  const j1 = await startJwksServer([k1]);
  const j2 = await startJwksServer([k2]);
  const cfg = (uri: string) => ({
    security: { jwt: testIssuerOptions({ issuer: 'https://issuer.test', jwksUri: uri }) },
    routes: [{ path: '/api', upstream: up.url }],
  });
  const t = await startTestGateway(cfg(j1.uri));
  try {
    const tok1 = mintToken(k1, { iss: 'https://issuer.test', aud: 'api', sub: 'a' });
    const tok2 = mintToken(k2, { iss: 'https://issuer.test', aud: 'api', sub: 'b' });
    assert.equal((await call(`${t.gw.url}/api`, { headers: { authorization: `Bearer ${tok1}` } })).status, 200);
    await t.gw.reload(validateConfig({ ...base, ...cfg(j2.uri) }));
    await t.gw.ready;
    assert.equal(t.gw.isReady(), true);
    assert.equal((await call(`${t.gw.url}/api`, { headers: { authorization: `Bearer ${tok2}` } })).status, 200);
    assert.equal((await call(`${t.gw.url}/api`, { headers: { authorization: `Bearer ${tok1}` } })).status, 401);
  } finally {
    await t.close();
    await Promise.all([up.close(), j1.close(), j2.close()]);
  }
});

/** Reads `gatehouse_token_cache_total{cache="jwt",result="hit"}`. */
async function cacheHits(t: { metrics: { registry: { metrics(): Promise<string> } } }): Promise<number> {
  const text = await t.metrics.registry.metrics();
  return Number(/gatehouse_token_cache_total\{cache="jwt",result="hit"\} (\d+)/.exec(text)?.[1] ?? 0);
}

test('reload while the JWKS is down: an issuer whose key settings are unchanged keeps its keys (and, unchanged, its token cache); /readyz stays 200', async () => {
  const up = await startEchoUpstream();
  const k = generateTestKey('ES256');
  const jwks = await startJwksServer([k]);
  const cfg = (paths: string[]) => ({
    ...base,
    admin: { enabled: true, host: '127.0.0.1', port: 0 },
    security: { jwt: testIssuerOptions({ issuer: 'https://issuer.test', jwksUri: jwks.uri }) },
    routes: paths.map((path) => ({ path, upstream: up.url })),
  });
  const t = await startTestGateway(cfg(['/api']));
  const get = async (path: string, tok: string) => (await call(`${t.gw.url}${path}`, { headers: { authorization: `Bearer ${tok}` } })).status;
  try {
    const claims = { iss: 'https://issuer.test', aud: 'api', sub: 'a' };
    const seen = mintToken(k, claims);
    assert.equal(await get('/api', seen), 200);
    assert.equal(await get('/api', seen), 200); // stored at its second verification
    for (const behaviour of ['down', 'garbage'] as const) {
      jwks.setBehaviour(behaviour);
      const fetches = jwks.fetchCount;
      const hits = await cacheHits(t);
      await t.gw.reload(validateConfig(cfg(['/api', `/${behaviour}`])));
      assert.equal(jwks.fetchCount, fetches, 'the unchanged issuer was not fetched again');
      assert.equal(await get(`/${behaviour}`, mintToken(k, claims)), 200, 'a new token verifies with the kept keys');
      assert.equal(await get('/api', seen), 200);
      assert.equal(await cacheHits(t), hits + 1, 'the token cache carried over');
      assert.equal((await call(`${t.gw.adminUrl}/readyz`)).status, 200);
    }
    // A new audience changes the claim rules, not where the keys come from: they stay too.
    const widened = cfg(['/api']);
    widened.security.jwt.audience = ['api', 'billing'];
    await t.gw.reload(validateConfig(widened));
    assert.equal(await get('/api', mintToken(k, { ...claims, aud: 'billing' })), 200);
    assert.equal((await call(`${t.gw.adminUrl}/readyz`)).status, 200);
  } finally {
    await t.close();
    await Promise.all([up.close(), jwks.close()]);
  }
});

test('a reload waits for the keys of a JWKS it opens: one that brings none (refused, timed out) refuses the reload, naming the issuer; the old configuration serves on and /readyz stays 200', async () => {
  const up = await startEchoUpstream();
  const k1 = generateTestKey('ES256');
  const k2 = generateTestKey('ES256');
  const first = await startJwksServer([k1]);
  const second = await startJwksServer([k2]);
  const one = testIssuerOptions({ issuer: 'https://issuer.test', jwksUri: first.uri });
  const cfg = (issuers: ReturnType<typeof testIssuerOptions>[], paths: string[]) => ({
    ...base,
    admin: { enabled: true, host: '127.0.0.1', port: 0 },
    security: { jwt: issuers },
    routes: paths.map((path) => ({ path, upstream: up.url })),
  });
  const t = await startTestGateway(cfg([one], ['/api']));
  const get = async (path: string, tok: string) => (await call(`${t.gw.url}${path}`, { headers: { authorization: `Bearer ${tok}` } })).status;
  const readyz = async () => (await call(`${t.gw.adminUrl}/readyz`)).status;
  const tok1 = () => mintToken(k1, { iss: 'https://issuer.test', aud: 'api', sub: 'a' });
  try {
    assert.equal(await get('/api', tok1()), 200);
    const limits = { timeoutMs: 300, maxBytes: 64 * 1024, cacheMaxAge: 600, cooldown: 30 };
    const unreachable = testIssuerOptions({ issuer: 'https://second.test', jwksUri: `http://127.0.0.1:${await refusedPort()}/jwks`, jwks: limits });
    await assert.rejects(t.gw.reload(validateConfig(cfg([one, unreachable], ['/api', '/two']))), /issuer https:\/\/second\.test: JWKS fetch failed: request failed/);
    second.setBehaviour('slow');
    const hanging = testIssuerOptions({ issuer: 'https://second.test', jwksUri: second.uri, jwks: limits });
    // The stub holds the fetch for ever: only the fetch timeout ends the wait, and says so.
    await assert.rejects(t.gw.reload(validateConfig(cfg([one, hanging], ['/api', '/two']))), /issuer https:\/\/second\.test: JWKS fetch failed: timed out/);
    // The old configuration serves on, ready: the first issuer's tokens pass, the refused route is absent.
    assert.equal(await readyz(), 200);
    assert.equal(t.gw.isReady(), true);
    assert.equal(await get('/api', tok1()), 200);
    assert.equal(await get('/two', tok1()), 404);

    // Once the endpoint answers, the same reload applies, and is ready the moment it resolves.
    second.setBehaviour('ok');
    await t.gw.reload(validateConfig(cfg([one, hanging], ['/api', '/two'])));
    assert.equal(await readyz(), 200);
    assert.equal(await get('/two', mintToken(k2, { iss: 'https://second.test', aud: 'api', sub: 'b' })), 200);
    assert.equal(await get('/api', tok1()), 200);
    // Key sources it took over are not waited for: the first JWKS going down refuses nothing.
    first.setBehaviour('down');
    await t.gw.reload(validateConfig(cfg([one, hanging], ['/api', '/two', '/three'])));
    assert.equal(await get('/three', tok1()), 200);
    assert.equal(await readyz(), 200);
  } finally {
    await t.close();
    await Promise.all([up.close(), first.close(), second.close()]);
  }
});

test('a reload that changes only an issuer\'s jwks limits while its JWKS is down serves the last good keys: no 503, /readyz stays 200', async () => {
  const up = await startEchoUpstream();
  const k = generateTestKey('ES256');
  const jwks = await startJwksServer([k]);
  const cfg = (timeoutMs: number, paths: string[]) => ({
    ...base,
    admin: { enabled: true, host: '127.0.0.1', port: 0 },
    security: { jwt: testIssuerOptions({ issuer: 'https://issuer.test', jwksUri: jwks.uri, jwks: { timeoutMs, maxBytes: 64 * 1024, cacheMaxAge: 600, cooldown: 30 } }) },
    routes: paths.map((path) => ({ path, upstream: up.url })),
  });
  const t = await startTestGateway(cfg(2000, ['/api']));
  const get = async (path: string) =>
    (await call(`${t.gw.url}${path}`, { headers: { authorization: `Bearer ${mintToken(k, { iss: 'https://issuer.test', aud: 'api', sub: path })}` } })).status;
  try {
    assert.equal(await get('/api'), 200);
    jwks.setBehaviour('down');
    const fetches = jwks.fetchCount;
    await t.gw.reload(validateConfig(cfg(3000, ['/api', '/more'])));
    // A token never seen before, so no cache answers it: the kept keys verify it.
    assert.equal(await get('/more'), 200);
    assert.equal(await get('/api'), 200);
    assert.equal((await call(`${t.gw.adminUrl}/readyz`)).status, 200);
    assert.equal(t.gw.isReady(), true);
    // The new source fetches with its own limits at once; it fails, and the keys stay.
    await jwks.waitForFetches(fetches + 1);
    assert.equal(await get('/more'), 200);
  } finally {
    await t.close();
    await Promise.all([up.close(), jwks.close()]);
  }
});

test('a reload waiting for a new JWKS keeps the pools it opened when an older configuration\'s last request ends meanwhile', async () => {
  const up = await startEchoUpstream();
  const other = await startEchoUpstream();
  const key = generateTestKey('ES256');
  // A JWKS that answers only when told to: the reload waits on it.
  let answer: (() => void) | undefined;
  const jwks = createServer((_req, res) => {
    answer = () => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [key.publicJwk] }));
  });
  await new Promise<void>((r) => jwks.listen(0, '127.0.0.1', r));
  const jwksUri = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks`;
  const t = await startTestGateway({ routes: [{ path: '/a', upstream: up.url, auth: 'none' }] });
  try {
    up.setMode('stream');
    const long = await request(`${t.gw.url}/a/long`); // runs on the first configuration
    await t.gw.reload(validateConfig({ ...base, routes: [{ path: '/a', upstream: up.url, auth: 'none', timeoutMs: 29_000 }] }));
    const third = validateConfig({
      ...base,
      security: { jwt: testIssuerOptions({ issuer: 'https://issuer.test', jwksUri }) },
      routes: [
        { path: '/a', upstream: up.url, auth: 'none' },
        { path: '/b', upstream: other.url, auth: 'none' },
        { path: '/j', upstream: other.url },
      ],
    });
    const reloading = t.gw.reload(third); // opens the pool of `other`, then waits for the JWKS
    await waitUntil(() => answer !== undefined, 'the reload asked the new JWKS');
    // The first configuration's last request ends while the reload waits: its retirement closes unused pools.
    up.release();
    assert.equal(await long.body.text(), STREAM_FIRST + STREAM_REST);
    await new Promise((r) => setTimeout(r, 100));
    (answer as () => void)();
    await reloading;
    assert.equal((await call(`${t.gw.url}/b/x`)).status, 200, 'the new route\'s pool is open');
  } finally {
    up.release();
    await t.close();
    await Promise.all([up.close(), other.close()]);
    jwks.close();
  }
});

test('reload with a publicKey file that does not import is refused, naming the file; the old key keeps verifying', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-reload-keys-'));
  const up = await startEchoUpstream();
  const k1 = generateTestKey('RS256');
  const k2 = generateTestKey('RS256');
  const keyFile = join(dir, 'issuer.pem');
  writeFileSync(keyFile, k1.publicPem);
  const cfg = (publicKey: string) => ({
    ...base,
    admin: { enabled: true, host: '127.0.0.1', port: 0 },
    security: { jwt: testIssuerOptions({ issuer: 'https://issuer.test', publicKey, algorithms: ['RS256'] }) },
    routes: [{ path: '/api', upstream: up.url }],
  });
  const t = await startTestGateway(cfg(keyFile));
  const get = async (tok: string) => (await call(`${t.gw.url}/api`, { headers: { authorization: `Bearer ${tok}` } })).status;
  const claims = { iss: 'https://issuer.test', aud: 'api', sub: 'a' };
  try {
    assert.equal(await get(mintToken(k1, claims)), 200);
    const garbage = join(dir, 'garbage.pem');
    writeFileSync(garbage, 'not a key at all\n');
    // Named as the kit names it: the issuer, the file, why.
    const refusal = `issuer https://issuer.test: public key file ${garbage}: neither PEM nor JSON`;
    await assert.rejects(t.gw.reload(validateConfig(cfg(garbage))), { message: refusal });
    // Nor does a gateway start on it (it would answer 503 on every JWT route until someone looked).
    // startGateway itself, not the test helper, which waits for readiness.
    const started = await startGateway(validateConfig(cfg(garbage)), { logger: createLogger('silent') }).catch((err: unknown) => err);
    if (!(started instanceof Error)) {
      await (started as Gateway).close();
      assert.fail('a gateway started with a public key file that does not import');
    }
    assert.equal(started.message, refusal);
    // The same path, its content replaced: read again on reload, and refused the same way.
    writeFileSync(keyFile, '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n');
    await assert.rejects(t.gw.reload(validateConfig(cfg(keyFile))), { message: `issuer https://issuer.test: public key file ${keyFile}: the public key does not parse` });
    assert.equal(await get(mintToken(k1, claims)), 200, 'the old key keeps verifying');
    assert.equal((await call(`${t.gw.adminUrl}/readyz`)).status, 200);
    // A good file rotates the key.
    writeFileSync(keyFile, k2.publicPem);
    await t.gw.reload(validateConfig(cfg(keyFile)));
    assert.equal(await get(mintToken(k2, claims)), 200);
    assert.equal(await get(mintToken(k1, claims)), 401);
  } finally {
    await t.close();
    await up.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a reload after close begins is refused before it builds anything: a JWKS it names is never fetched', async () => {
  const up = await startEchoUpstream();
  const key = generateTestKey('ES256');
  const jwks = await startJwksServer([key]);
  const t = await startTestGateway({ routes: [{ path: '/open', upstream: up.url, auth: 'none' }] });
  try {
    await t.gw.close();
    const next = validateConfig({
      ...base,
      security: { jwt: testIssuerOptions({ issuer: 'https://late.test', jwksUri: jwks.uri }) },
      routes: [{ path: '/api', upstream: up.url }],
    });
    await assert.rejects(t.gw.reload(next), /the gateway is shutting down/);
    assert.equal(jwks.fetchCount, 0, 'nothing was built for a configuration that can never serve');
  } finally {
    await t.close();
    await jwks.close();
    await up.close();
  }
});

test('close drains in-flight requests, refuses new connections', async (c) => {
  const up = await startEchoUpstream();
  const t = await startTestGateway({ routes: [{ path: '/', upstream: up.url, auth: 'none' }] });
  // Also after a failed assertion: the held response released, the drain ends, then the upstream goes.
  c.after(async () => {
    up.release();
    await t.close();
    await up.close();
  });
  up.setMode('stream');
  const res = await request(`${t.gw.url}/long`);
  const closing = t.gw.close();
  await assert.rejects(call(`${t.gw.url}/new`), 'new connections are refused while draining');
  up.release();
  assert.equal(await res.body.text(), STREAM_FIRST + STREAM_REST, 'the in-flight request completed');
  await closing;
});

test('close also drains a request of a configuration a reload has replaced', async (c) => {
  const up = await startEchoUpstream();
  const other = await startEchoUpstream();
  const t = await startTestGateway({ routes: [{ path: '/', upstream: up.url, auth: 'none' }] });
  c.after(async () => {
    up.release();
    await t.close();
    await Promise.all([up.close(), other.close()]);
  });
  up.setMode('stream');
  const res = await request(`${t.gw.url}/long`);
  await t.gw.reload(validateConfig({ ...base, routes: [{ path: '/', upstream: other.url, auth: 'none' }] }));
  let closed = false;
  const closing = t.gw.close().then(() => (closed = true));
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(closed, false, 'close waits for the old configuration\'s request');
  up.release();
  assert.equal(await res.body.text(), STREAM_FIRST + STREAM_REST, 'the in-flight request completed');
  await closing;
});

test('draining: /readyz answers 503 from the moment close begins; a drain timeout longer than a timer holds (a month) still waits', async () => {
  const up = await startEchoUpstream();
  const t = await startTestGateway({
    shutdown: { drainTimeoutMs: 30 * 86_400_000 },
    admin: { enabled: true, host: '127.0.0.1', port: 0 },
    routes: [{ path: '/', upstream: up.url, auth: 'none' }],
  });
  assert.equal((await call(`${t.gw.adminUrl}/readyz`)).status, 200);
  up.setMode('stream');
  const res = await request(`${t.gw.url}/long`);
  const closing = t.gw.close();
  let body: Promise<string> | undefined;
  try {
    assert.equal((await call(`${t.gw.adminUrl}/readyz`)).status, 503, 'a load balancer sees the instance leave before its port refuses');
    assert.equal(t.gw.isReady(), false);
    // Node fires a timer of more than 2^31-1 ms after 1 ms: the drain must not end early.
    await new Promise((r) => setTimeout(r, 100));
    up.release();
    body = res.body.text();
    assert.equal(await body, STREAM_FIRST + STREAM_REST, 'the in-flight request completed');
  } finally {
    up.release();
    await (body ?? res.body.dump()).catch(() => undefined);
    await closing;
    await up.close();
  }
});

test('draining: an answer given while draining ends its keep-alive connection (Connection: close), so the client takes its next request elsewhere', async () => {
  // An upstream that answers each request only when told to.
  const held: ServerResponse[] = [];
  const up = createServer((_req, res) => held.push(res));
  await new Promise<void>((r) => up.listen(0, '127.0.0.1', r));
  const upUrl = `http://127.0.0.1:${(up.address() as AddressInfo).port}`;
  const t = await startTestGateway({ shutdown: { drainTimeoutMs: 60_000 }, routes: [{ path: '/', upstream: upUrl, auth: 'none' }] });
  const port = Number(new URL(t.gw.url).port);
  const [a, b] = await Promise.all([openConnection(port), openConnection(port)]);
  for (const conn of [a, b]) conn.socket.write('GET /held HTTP/1.1\r\nHost: gw.test\r\n\r\n');
  await waitUntil(() => held.length === 2, 'both requests reached the upstream');
  const closing = t.gw.close();
  try {
    (held[1] as ServerResponse).end('second');
    const answer = await responseOn(b);
    assert.equal(answer.status, 200);
    assert.equal(answer.body, 'second');
    assert.match(answer.head, /\r\nconnection: close/i);
    // While the other request still holds the drain open, this connection is already gone.
    assert.equal(await closesWithin(b, 5000), 'closed');
    assert.equal(a.received(), '', 'the other request is still in flight');
    (held[0] as ServerResponse).end('first');
    assert.equal((await responseOn(a)).body, 'first');
  } finally {
    for (const res of held) if (!res.writableEnded) res.end();
    await closing;
    up.close();
  }
});

test('draining: requests pipelined behind an answer are still served, and only the last answer closes the connection', async () => {
  const held: ServerResponse[] = [];
  const paths: string[] = [];
  const up = createServer((req, res) => {
    paths.push(req.url as string);
    held.push(res);
  });
  await new Promise<void>((r) => up.listen(0, '127.0.0.1', r));
  const upUrl = `http://127.0.0.1:${(up.address() as AddressInfo).port}`;
  const t = await startTestGateway({ shutdown: { drainTimeoutMs: 60_000 }, routes: [{ path: '/', upstream: upUrl, auth: 'none' }] });
  const conn = await openConnection(Number(new URL(t.gw.url).port));
  conn.socket.write('GET /first HTTP/1.1\r\nHost: gw.test\r\n\r\nPOST /second HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 2\r\n\r\nhi');
  await waitUntil(() => held.length === 1, 'the first request reached the upstream');
  const closing = t.gw.close();
  try {
    (held[0] as ServerResponse).end('one');
    await waitUntil(() => held.length === 2, 'the pipelined request was started after the first answer');
    (held[1] as ServerResponse).end('two');
    await conn.closed;
    const answers = conn.received().split(/(?=HTTP\/1\.1 )/);
    assert.equal(answers.length, 2, conn.received());
    assert.match(answers[0] as string, /^HTTP\/1\.1 200 [\s\S]*\r\nConnection: keep-alive[\s\S]*one$/i, 'a request waits behind it: kept open');
    assert.match(answers[1] as string, /^HTTP\/1\.1 200 [\s\S]*\r\nConnection: close[\s\S]*two$/i, 'the last answer closes');
    assert.deepEqual(paths, ['/first', '/second']);
  } finally {
    for (const res of held) if (!res.writableEnded) res.end();
    await closing;
    up.close();
  }
});

test('shutdown.readinessDelayMs: /readyz answers 503 at once while new connections are still served (Connection: close); a second close() ends the delay, then the port refuses while in-flight requests drain', async (c) => {
  const up = await startEchoUpstream();
  c.after(() => up.close());
  const t = await startTestGateway({
    // Far longer than the test: only the second close() ends it.
    shutdown: { readinessDelayMs: 600_000, drainTimeoutMs: 60_000 },
    admin: { enabled: true, host: '127.0.0.1', port: 0 },
    routes: [{ path: '/', upstream: up.url, auth: 'none' }],
  });
  const port = Number(new URL(t.gw.url).port);
  c.after(async () => {
    up.release();
    await t.close();
  });
  up.setMode('stream');
  const res = await request(`${t.gw.url}/long`);
  up.setMode('echo');
  const closing = t.gw.close();
  assert.equal((await call(`${t.gw.adminUrl}/readyz`)).status, 503, 'unready from the moment shutdown begins');
  assert.equal(t.gw.isReady(), false);
  // A load balancer that has not noticed yet still sends: a new connection is accepted and served.
  const conn = await openConnection(port);
  conn.socket.write('GET /during HTTP/1.1\r\nHost: gw.test\r\n\r\n');
  const answer = await responseOn(conn);
  assert.equal(answer.status, 200);
  assert.match(answer.head, /\r\nconnection: close/i, 'the answer ends its keep-alive connection');
  assert.equal(await closesWithin(conn, 5000), 'closed');
  assert.equal(up.received.at(-1)?.path, '/during');
  assert.match(t.logText(), /still accepting until the readiness delay ends/);

  assert.equal(t.gw.close(), closing, 'close() again returns the same promise');
  assert.equal(await refusedWithin(port, 5000), true, 'after the delay the port refuses');
  let closed = false;
  void closing.then(() => (closed = true));
  await new Promise((r) => setImmediate(r));
  assert.equal(closed, false, 'the drain still waits for the request in flight');
  up.release();
  assert.equal(await res.body.text(), STREAM_FIRST + STREAM_REST, 'the in-flight request completed');
  await closing;
});

test('shutdown.readinessDelayMs: once the delay has run out the gateway stops accepting and close() resolves', async (c) => {
  const up = await startEchoUpstream();
  c.after(() => up.close());
  const t = await startTestGateway({ shutdown: { readinessDelayMs: 50 }, routes: [{ path: '/', upstream: up.url, auth: 'none' }] });
  await t.gw.close();
  assert.equal(await refusedWithin(Number(new URL(t.gw.url).port), 0), true);
  assert.match(t.logText(), /"readinessDelayMs":50/);
});

test('close cuts requests that outlive the drain timeout', async (c) => {
  const up = await startEchoUpstream();
  const t = await startTestGateway({ shutdown: { drainTimeoutMs: 100 }, routes: [{ path: '/', upstream: up.url, auth: 'none' }] });
  c.after(async () => {
    await t.close();
    await up.close();
  });
  up.setMode('hang');
  const arrived = up.nextRequest();
  const outcome = call(`${t.gw.url}/stuck`).then(
    () => 'answered',
    () => 'cut',
  );
  await arrived;
  await t.gw.close();
  assert.equal(await outcome, 'cut', 'the stuck request was cut');
});

test('admin listener: readiness and metrics of the gateway', async () => {
  const up = await startEchoUpstream();
  const t = await startTestGateway({ admin: { enabled: true, host: '127.0.0.1', port: 0 }, routes: [{ path: '/', upstream: up.url, auth: 'none' }] });
  try {
    assert.ok(t.gw.adminUrl);
    assert.equal((await call(`${t.gw.adminUrl}/readyz`)).status, 200);
    await call(`${t.gw.url}/counted`);
    const metrics = await call(`${t.gw.adminUrl}/metrics`);
    assert.match(metrics.text, /gatehouse_requests_total\{route="\/",status="200"\} 1/);
    assert.match(metrics.text, /gatehouse_request_duration_seconds_count\{route="\/"\} 1/);
    assert.equal((await call(`${t.gw.url}/admin/metrics`)).status, 200, 'admin paths are not served on the gateway port (this went upstream)');
    assert.equal(up.received.at(-1)?.path, '/admin/metrics');
  } finally {
    await t.close();
    await up.close();
  }
  await assert.rejects(call(`${t.gw.adminUrl}/healthz`), 'the admin listener closes with the gateway');
});
