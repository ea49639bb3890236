import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createConcurrencyLimit, SlotRefused } from './limit.js';

const refused = (reason: 'overloaded' | 'timeout') => (err: unknown) => err instanceof SlotRefused && err.reason === reason;

test('one slot, one place in the queue: a third caller is refused at once, a waiter that gives up leaves no slot behind', async () => {
  const limit = createConcurrencyLimit(1, 1);
  const release = await limit.acquire(new AbortController().signal);
  const giveUp = new AbortController();
  const waiting = limit.acquire(giveUp.signal);
  assert.equal(limit.queued, 1);
  await assert.rejects(limit.acquire(new AbortController().signal), refused('overloaded'));
  giveUp.abort();
  await assert.rejects(waiting, refused('timeout'));
  assert.equal(limit.queued, 0);
  release();
  release(); // a second release of the same slot does nothing
  assert.equal(limit.inFlight, 0);
  await assert.rejects(limit.acquire(AbortSignal.abort()), refused('timeout'), 'a caller already out of time is not queued');
  assert.equal(limit.inFlight, 0);
});

test('a released slot passes straight to the next waiter', async () => {
  const limit = createConcurrencyLimit(1, 2);
  const first = await limit.acquire(new AbortController().signal);
  const next = limit.acquire(new AbortController().signal);
  first();
  const second = await next;
  assert.equal(limit.inFlight, 1, 'handed over, not freed and taken again');
  assert.equal(limit.queued, 0);
  second();
  assert.equal(limit.inFlight, 0);
});
