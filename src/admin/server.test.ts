import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Counter, Registry } from 'prom-client';
import { captureLog } from '../../test/helpers/log-capture.js';
import { closesWithin, openConnection, responseOn, type RawConnection } from '../../test/helpers/raw-connection.js';
import { createLogger } from '../log.js';
import { GatewayMetrics } from './metrics.js';
import { ADMIN_MAX_CONNECTIONS, startAdminServer } from './server.js';

test('healthz is 200, readyz follows isReady, metrics renders the registry, others 404', async (t) => {
  const metrics = new GatewayMetrics({ collectDefault: false });
  metrics.requests.inc({ route: '/api/orders', status: '200' });
  let ready = false;
  const admin = await startAdminServer({ host: '127.0.0.1', port: 0 }, { registry: metrics.registry, isReady: () => ready });
  t.after(() => admin.close());
  assert.match(admin.url, /^http:\/\/127\.0\.0\.1:\d+$/);

  const health = await fetch(`${admin.url}/healthz`);
  assert.equal(health.status, 200);
  assert.equal(await health.text(), 'ok\n');

  const notReady = await fetch(`${admin.url}/readyz`);
  assert.equal(notReady.status, 503);
  await notReady.arrayBuffer();
  ready = true;
  const nowReady = await fetch(`${admin.url}/readyz`);
  assert.equal(nowReady.status, 200);
  await nowReady.arrayBuffer();

  const m = await fetch(`${admin.url}/metrics`);
  assert.equal(m.status, 200);
  assert.match(m.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  const text = await m.text();
  assert.match(text, /# TYPE gatehouse_requests_total counter/);
  assert.match(text, /gatehouse_requests_total\{route="\/api\/orders",status="200"\} 1/);

  for (const path of ['/', '/metrics/', '/health', '/readyz/x', '/admin']) {
    const r = await fetch(`${admin.url}${path}`);
    assert.equal(r.status, 404, path);
    await r.arrayBuffer();
  }
  const post = await fetch(`${admin.url}/healthz`, { method: 'POST' });
  assert.equal(post.status, 405);
  assert.equal(post.headers.get('allow'), 'GET, HEAD');
  await post.arrayBuffer();

  const head = await fetch(`${admin.url}/healthz`, { method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal(await head.text(), '');

  // Still serving after the bad requests.
  const again = await fetch(`${admin.url}/healthz?probe=1`);
  assert.equal(again.status, 200);
  await again.arrayBuffer();
});

test('a failing metrics collector gives 500, is logged once per distinct failure, and the listener keeps serving', async (t) => {
  const registry = new Registry();
  let failure = 'collector failed';
  new Counter({
    name: 'broken_total',
    help: 'collector that throws',
    registers: [registry],
    collect() {
      throw new Error(failure);
    },
  });
  const log = captureLog();
  const admin = await startAdminServer({ host: '127.0.0.1', port: 0 }, { registry, isReady: () => true, logger: createLogger('info', log.stream) });
  t.after(() => admin.close());
  const scrape = async (): Promise<void> => {
    const r = await fetch(`${admin.url}/metrics`);
    assert.equal(r.status, 500);
    assert.equal(await r.text(), 'internal error\n');
  };
  await scrape();
  await scrape();
  failure = 'another failure';
  await scrape();
  await scrape();
  const lines = log.lines().filter((l) => l.msg === 'admin listener: answering failed (500)');
  assert.deepEqual(lines.map((l) => [l.level, (l.err as { message: string }).message]), [
    ['error', 'collector failed'],
    ['error', 'another failure'],
  ]);
  const h = await fetch(`${admin.url}/healthz`);
  assert.equal(h.status, 200);
  await h.arrayBuffer();
});

test('binding a port in use rejects instead of hanging', async (t) => {
  const first = await startAdminServer({ host: '127.0.0.1', port: 0 }, { registry: new Registry(), isReady: () => true });
  t.after(() => first.close());
  const port = Number(new URL(first.url).port);
  await assert.rejects(
    startAdminServer({ host: '127.0.0.1', port }, { registry: new Registry(), isReady: () => true }),
    (err: NodeJS.ErrnoException) => err.code === 'EADDRINUSE',
  );
});

test('close resolves with an idle keep-alive client connected', async () => {
  const admin = await startAdminServer({ host: '127.0.0.1', port: 0 }, { registry: new Registry(), isReady: () => true });
  const r = await fetch(`${admin.url}/healthz`, { headers: { connection: 'keep-alive' } });
  assert.equal(r.status, 200);
  await r.arrayBuffer();
  await admin.close();
  await assert.rejects(fetch(`${admin.url}/healthz`));
});

test('close cuts a connection that sent nothing and one that sent half its headers, and resolves', async () => {
  const admin = await startAdminServer({ host: '127.0.0.1', port: 0 }, { registry: new Registry(), isReady: () => true });
  const port = Number(new URL(admin.url).port);
  const silent = await openConnection(port);
  const partial = await openConnection(port);
  partial.socket.write('GET /readyz HTTP/1.1\r\nHost: x\r\n');
  const closing = admin.close();
  try {
    // Far beyond the immediate cut, and half the one deadline left that could close them otherwise:
    // server.close() stops Node's checks of the 5 s header deadline, so only the 10 s idle timer remains.
    assert.equal(await closesWithin(silent, 5_000), 'closed', 'the server closed the silent connection');
    assert.equal(await closesWithin(partial, 5_000), 'closed', 'the server closed the half-sent request');
  } finally {
    silent.socket.destroy();
    partial.socket.destroy();
    await closing;
  }
});

/** A registry whose collector waits for the test: `entered` once a scrape is collecting, then `release()`. */
function heldRegistry(): { registry: Registry; entered: Promise<void>; release: () => void } {
  let entered!: () => void;
  let release!: () => void;
  const enteredP = new Promise<void>((r) => (entered = r));
  const held = new Promise<void>((r) => (release = r));
  const registry = new Registry();
  new Counter({
    name: 'held_total',
    help: 'collector the test holds',
    registers: [registry],
    async collect() {
      entered();
      await held;
    },
  });
  return { registry, entered: enteredP, release };
}

test('close lets an answer being written finish; one that never ends is cut and close resolves', async () => {
  const scrape = async (url: string) => {
    const conn = await openConnection(Number(new URL(url).port));
    conn.socket.write('GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n');
    return conn;
  };

  const slow = heldRegistry();
  const admin = await startAdminServer({ host: '127.0.0.1', port: 0 }, { registry: slow.registry, isReady: () => true });
  const finishing = await scrape(admin.url);
  await slow.entered;
  const closing = admin.close();
  slow.release();
  assert.equal((await responseOn(finishing)).status, 200, 'the scrape in flight got its answer');
  await closing;

  const stuckRegistry = heldRegistry(); // never released
  const second = await startAdminServer({ host: '127.0.0.1', port: 0 }, { registry: stuckRegistry.registry, isReady: () => true });
  const stuck = await scrape(second.url);
  await stuckRegistry.entered;
  const closingSecond = second.close();
  try {
    assert.equal(await closesWithin(stuck, 5_000), 'closed', 'the server cut the answer that never ends');
    assert.equal(stuck.received(), '', 'cut without an answer');
  } finally {
    stuck.socket.destroy();
    await closingSecond;
  }
});

test(`connections beyond ${ADMIN_MAX_CONNECTIONS} are closed at accept; the listener serves again once they go`, async (t) => {
  const admin = await startAdminServer({ host: '127.0.0.1', port: 0 }, { registry: new Registry(), isReady: () => true });
  t.after(() => admin.close());
  const port = Number(new URL(admin.url).port);
  const held: RawConnection[] = [];
  try {
    for (let i = 0; i < ADMIN_MAX_CONNECTIONS; i++) held.push(await openConnection(port));
    const extra = await openConnection(port);
    held.push(extra);
    assert.equal(await closesWithin(extra, 5_000), 'closed', 'the connection over the bound was closed');
    assert.equal(extra.received(), '');
  } finally {
    for (const c of held) c.socket.destroy();
  }
  await Promise.all(held.map((c) => c.closed));
  const ok = await fetch(`${admin.url}/healthz`);
  assert.equal(ok.status, 200);
  await ok.arrayBuffer();
});
