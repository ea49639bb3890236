import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseResultLine } from './load.js';

test('parses the GH_RESULT line among other output (latencies in µs)', () => {
  const out = 'Running 4s test\n  Non-2xx or 3xx responses: 7\nGH_RESULT requests=20000 duration_us=4000000 connect=0 read=1 write=0 status=7 timeout=2 p50=2500.0 p99=12000.5 next=123\n';
  const r = parseResultLine(out);
  assert.equal(r.requests, 20000);
  assert.equal(r.rps, 5000);
  assert.equal(r.p50Ms, 2.5);
  assert.equal(r.p99Ms, 12.0005);
  assert.equal(r.errorStatuses, 7);
  assert.equal(r.socketErrors, 3);
  assert.equal(r.nextIndex, 123);
});

test('no result line is an error that shows the output', () => {
  assert.throws(() => parseResultLine('unable to connect to 127.0.0.1:1'), /printed no result[\s\S]*unable to connect/);
});
