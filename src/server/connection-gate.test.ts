import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConnectionGate, type GatedRequest } from './connection-gate.js';

/** A request that records what the gate did with it. */
function request(name: string, log: string[]): GatedRequest {
  return {
    send: () => void log.push(`send ${name}`),
    waitTimedOut: () => void log.push(`timeout ${name}`),
    waitTimer: undefined,
  };
}

test('ConnectionGate: up to max sent at once; the rest wait in arrival order and take a connection as one frees', () => {
  const log: string[] = [];
  const gate = new ConnectionGate(2);
  const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((n) => request(n, log)) as [GatedRequest, GatedRequest, GatedRequest, GatedRequest];
  for (const r of [a, b, c, d]) gate.enter(r, 60_000);
  assert.deepEqual(log, ['send a', 'send b']);
  assert.equal(gate.queued, 2);
  gate.leave();
  assert.deepEqual(log, ['send a', 'send b', 'send c']);
  gate.cancel(d); // its client left
  gate.leave();
  gate.leave();
  assert.equal(gate.queued, 0);
  // Both connections free again: two more are sent at once, a third waits.
  const [e, f, g] = ['e', 'f', 'g'].map((n) => request(n, log)) as [GatedRequest, GatedRequest, GatedRequest];
  for (const r of [e, f, g]) gate.enter(r, 60_000);
  assert.deepEqual(log.slice(3), ['send e', 'send f']);
  gate.drop();
  assert.deepEqual(log.slice(5), ['timeout g'], 'shutdown turns the waiting away at once');
});

test('ConnectionGate: a request still waiting at its deadline is turned away and never sent', async () => {
  const log: string[] = [];
  const gate = new ConnectionGate(1);
  gate.enter(request('a', log), 60_000);
  gate.enter(request('b', log), 20);
  await new Promise((r) => setTimeout(r, 60));
  assert.deepEqual(log, ['send a', 'timeout b']);
  gate.leave();
  assert.deepEqual(log, ['send a', 'timeout b'], 'the timed-out request is not sent when the connection frees');
  assert.equal(gate.queued, 0);
});
