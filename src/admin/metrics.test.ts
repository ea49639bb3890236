import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GatewayMetrics } from './metrics.js';

// Each names a collector that starts something running for good: a gauge read from
// process.cpuUsage, the event-loop-delay monitor, the GC PerformanceObserver.
const PROCESS_METRICS = ['gatehouse_process_cpu_user_seconds_total', 'gatehouse_nodejs_eventloop_lag_seconds', 'gatehouse_nodejs_gc_duration_seconds'];

test('Node\'s process metrics are created once per process: every GatewayMetrics serves the same collectors, so each new gateway starts no monitor', async () => {
  const first = new GatewayMetrics();
  const sets = Array.from({ length: 20 }, () => new GatewayMetrics());
  for (const name of PROCESS_METRICS) {
    const collector = first.registry.getSingleMetric(name);
    assert.ok(collector, name);
    for (const m of sets) assert.equal(m.registry.getSingleMetric(name), collector, `${name} is shared, not created again`);
  }
  const text = await (sets.at(-1) as GatewayMetrics).registry.metrics();
  assert.match(text, /^gatehouse_process_cpu_user_seconds_total \d/m);
  assert.match(text, /^# TYPE gatehouse_requests_total counter$/m, 'beside the gateway\'s own');
});

test('without collectDefault a registry holds the gateway\'s metrics alone', () => {
  const m = new GatewayMetrics({ collectDefault: false });
  for (const name of PROCESS_METRICS) assert.equal(m.registry.getSingleMetric(name), undefined);
  assert.ok(m.registry.getSingleMetric('gatehouse_requests_total'));
});
