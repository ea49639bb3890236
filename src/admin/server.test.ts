import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Counter, Registry } from 'prom-client';
import { GatewayMetrics } from './metrics.js';
import { startAdminServer } from './server.js';

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

test('a failing metrics collector gives 500 and the listener keeps serving', async (t) => {
  const registry = new Registry();
  new Counter({
    name: 'broken_total',
    help: 'collector that throws',
    registers: [registry],
    collect() {
      throw new Error('collector failed');
    },
  });
  const admin = await startAdminServer({ host: '127.0.0.1', port: 0 }, { registry, isReady: () => true });
  t.after(() => admin.close());
  const r = await fetch(`${admin.url}/metrics`);
  assert.equal(r.status, 500);
  assert.equal(await r.text(), 'internal error\n');
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
