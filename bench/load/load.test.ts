import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseResultLine, type LoadSpec } from './load.js';
import { wrkArguments } from './wrk.js';

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

const spec: LoadSpec = {
  url: 'http://127.0.0.1:8080/api/orders/42',
  connections: 50,
  durationS: 3,
  valuesFile: '/tmp/tokens.txt',
  header: 'Authorization',
  prefix: 'Bearer ',
  startIndex: 7,
};

test('wrk arguments of a GET run: the script args are file, header, prefix, threads, start', () => {
  const args = wrkArguments(spec, '/tmp/rotate.lua', 1);
  assert.deepEqual(args.slice(0, 8), ['-t1', '-c50', '-d3s', '--timeout', '5s', '-s', '/tmp/rotate.lua', spec.url]);
  assert.deepEqual(args.slice(args.indexOf('--') + 1), ['/tmp/tokens.txt', 'Authorization', 'Bearer ', '1', '7']);
});

test('wrk arguments of a POST run add the method, the body prefix and each fixed header as "Name: value"', () => {
  const post = { bodyPrefix: 'token=', headers: { Authorization: 'Basic YTpi', 'Content-Type': 'application/x-www-form-urlencoded' } };
  const args = wrkArguments({ ...spec, header: '', prefix: '', post }, '/tmp/rotate.lua', 1);
  assert.deepEqual(args.slice(args.indexOf('--') + 1), [
    '/tmp/tokens.txt', '', '', '1', '7', 'POST', 'token=', 'Authorization: Basic YTpi', 'Content-Type: application/x-www-form-urlencoded',
  ]);
});
