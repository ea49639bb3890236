import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Counter, Histogram, Registry } from 'prom-client';
import { GatewayMetrics } from '../admin/metrics.js';
import { RouteMetrics } from './route-metrics.js';

const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** The same events recorded straight into prom-client's own metrics, as the gateway did before. */
function reference() {
  const registry = new Registry();
  const requests = new Counter({ name: 'gatehouse_requests_total', help: 'x', labelNames: ['route', 'status'], registers: [registry] });
  const outcomes = new Counter({ name: 'gatehouse_auth_outcomes_total', help: 'x', labelNames: ['route', 'outcome'], registers: [registry] });
  const latency = new Histogram({ name: 'gatehouse_request_duration_seconds', help: 'x', labelNames: ['route'], buckets: BUCKETS, registers: [registry] });
  return { registry, requests, outcomes, latency };
}

/** The lines of one metric family, sorted (series order is not part of the format). */
async function series(registry: Registry, name: string): Promise<string[]> {
  const text = await registry.metrics();
  return text
    .split('\n')
    .filter((l) => l.startsWith(name) && !l.startsWith('#'))
    .sort();
}

test('route metrics folded at scrape time read exactly as prom-client counters and histograms', async () => {
  const metrics = new GatewayMetrics({ collectDefault: false });
  const ref = reference();
  const routes = [new RouteMetrics(metrics, '/api/orders'), new RouteMetrics(metrics, 'q"uote\\d')];
  const events: Array<[number, number, number, string]> = [
    [0, 200, 0.0003, 'ok'],
    [0, 200, 0.0005, 'ok'],
    [0, 401, 0.004, 'GH_TOKEN_INVALID'],
    [1, 200, 0.7, 'ok'],
    [1, 502, 12, 'ok'],
    [0, 200, 0.0011, 'ok'],
  ];
  const names = ['/api/orders', 'q"uote\\d'];
  const check = async () => {
    for (const name of ['gatehouse_requests_total', 'gatehouse_auth_outcomes_total', 'gatehouse_request_duration_seconds']) {
      assert.deepEqual(await series(metrics.registry, name), await series(ref.registry, name), name);
    }
  };
  for (const [i, status, seconds, outcome] of events.slice(0, 3)) {
    routes[i]!.authOutcome(outcome);
    routes[i]!.request(status, seconds);
    ref.outcomes.inc({ route: names[i]!, outcome });
    ref.requests.inc({ route: names[i]!, status: String(status) });
    ref.latency.observe({ route: names[i]! }, seconds);
  }
  await check();
  // Counts after a scrape are added to what was folded, not lost or folded twice.
  for (const [i, status, seconds, outcome] of events.slice(3)) {
    routes[i]!.authOutcome(outcome);
    routes[i]!.request(status, seconds);
    ref.outcomes.inc({ route: names[i]!, outcome });
    ref.requests.inc({ route: names[i]!, status: String(status) });
    ref.latency.observe({ route: names[i]! }, seconds);
  }
  await check();
  await check();
  const text = await metrics.registry.metrics();
  assert.match(text, /gatehouse_request_duration_seconds_count\{route="\/api\/orders"\} 4/);
  assert.match(text, /gatehouse_request_duration_seconds_bucket\{le="\+Inf",route="\/api\/orders"\} 4/);
  assert.match(text, /gatehouse_requests_total\{route="\/api\/orders",status="200"\} 3/);
});

test('JSON export of the latency histogram matches prom-client', async () => {
  const metrics = new GatewayMetrics({ collectDefault: false });
  const ref = reference();
  new RouteMetrics(metrics, 'r').request(200, 0.02);
  ref.latency.observe({ route: 'r' }, 0.02);
  const ours = (await metrics.registry.getMetricsAsJSON()).find((m) => m.name === 'gatehouse_request_duration_seconds');
  const theirs = (await ref.registry.getMetricsAsJSON()).find((m) => m.name === 'gatehouse_request_duration_seconds');
  assert.deepEqual(ours?.values, theirs?.values);
  assert.equal(ours?.type, 'histogram');
});

test('a route recreated by a reload keeps adding to the same series', async () => {
  const metrics = new GatewayMetrics({ collectDefault: false });
  new RouteMetrics(metrics, 'r').request(200, 0.001);
  await metrics.registry.metrics();
  new RouteMetrics(metrics, 'r').request(200, 0.001);
  const text = await metrics.registry.metrics();
  assert.match(text, /gatehouse_requests_total\{route="r",status="200"\} 2/);
  assert.match(text, /gatehouse_request_duration_seconds_count\{route="r"\} 2/);
  // A series without observations is not shown, as with prom-client.
  metrics.routeTally('unused');
  assert.doesNotMatch(await metrics.registry.metrics(), /route="unused"/);
});
