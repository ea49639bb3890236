import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_TIMER_MS, settleWithin, timerDelay } from './timers.js';

test('timerDelay: delays a timer can hold pass unchanged; longer ones wait the longest it can; nonsense waits nothing', () => {
  assert.equal(timerDelay(1500), 1500);
  assert.equal(timerDelay(MAX_TIMER_MS), MAX_TIMER_MS);
  assert.equal(timerDelay(40 * 86_400_000), MAX_TIMER_MS);
  assert.equal(timerDelay(Infinity), MAX_TIMER_MS);
  for (const bad of [0, -5, Number.NaN]) assert.equal(timerDelay(bad), 0);
});

test('settleWithin: goes on once the promise settles, or once the time is up when it never does', async () => {
  let settled = false;
  await settleWithin(new Promise<void>((resolve) => setImmediate(() => ((settled = true), resolve()))), MAX_TIMER_MS);
  assert.equal(settled, true, 'returned with the promise, not after a 24-day timer');
  let waited = false;
  await settleWithin(new Promise<void>(() => {}), 5).then(() => (waited = true));
  assert.equal(waited, true);
});
