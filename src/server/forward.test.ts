import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { createLogger } from '../log.js';
import { captureLog } from '../../test/helpers/log-capture.js';
import { waitUntil } from '../../test/helpers/wait.js';
import { UpstreamPools } from './forward.js';

test('a throw inside an upstream handler callback is logged, and the process serves on (undici re-emits it as an error event)', async (t) => {
  const upstream = createServer((_req, res) => res.end('x'));
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => upstream.close(() => resolve())));
  const log = captureLog();
  const pools = new UpstreamPools({ connections: 1, connectTimeoutMs: 1000, logger: createLogger('error', log.stream) });
  t.after(() => pools.close());
  const origin = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  pools.get(origin).pool.dispatch(
    { path: '/', method: 'GET' },
    {
      onConnect: () => {},
      onHeaders: () => {
        throw new Error('handler bug');
      },
      onData: () => true,
      onComplete: () => {},
      onError: () => {
        throw new Error('handler bug in onError');
      },
    },
  );
  // Without the listener the error event has none, and this process would end here.
  await waitUntil(() => log.lines().some((l) => l.msg === 'an upstream request handler failed'), 'the handler failure to be logged', 5000);
  assert.equal(log.lines().find((l) => l.msg === 'an upstream request handler failed')?.origin, origin);
});
