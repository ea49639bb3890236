import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { captureLog } from '../../test/helpers/log-capture.js';
import { GatewayMetrics } from '../admin/metrics.js';
import { createLogger } from '../log.js';
import { createAccessLog } from './access-log.js';
import type { CompiledRoute } from './compile-routes.js';
import { createRequestHandler, type GatewayState } from './handle-request.js';
import { RouteMetrics } from './route-metrics.js';
import type { Router } from './router.js';
import { Traffic } from './traffic.js';
import { createTrustedProxies } from './trusted-proxies.js';

/** A handler whose route table throws on `/boom`: a fault in the request path that nothing else catches. */
async function startHandler(): Promise<{ url: string; log: ReturnType<typeof captureLog>; server: Server }> {
  const log = captureLog();
  const logger = createLogger('info', log.stream);
  const router: Router<CompiledRoute> = {
    routes: [],
    match(_host, path) {
      if (path === '/boom') throw new TypeError('a fault in routing');
      return undefined;
    },
  };
  const state: GatewayState = {
    router,
    realm: 'gatehouse',
    maxUrlLength: 8192,
    trusted: createTrustedProxies([]),
    unroutedMetrics: new RouteMetrics(new GatewayMetrics({ collectDefault: false }), '(none)'),
    traffic: new Traffic(),
  };
  const handler = createRequestHandler({ proto: 'http', hsts: undefined, logger, accessLog: createAccessLog(logger), state: () => state, draining: false });
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, log, server };
}

test('a synchronous throw in the request path is a logged 500 GH_INTERNAL, and the process goes on serving', async () => {
  const { url, log, server } = await startHandler();
  try {
    const res = await fetch(`${url}/boom`);
    assert.equal(res.status, 500);
    assert.equal(res.headers.get('content-type'), 'application/problem+json');
    assert.equal(res.headers.get('www-authenticate'), null);
    const body = (await res.json()) as { code: string; detail: string };
    assert.equal(body.code, 'GH_INTERNAL');
    assert.doesNotMatch(body.detail, /routing/, 'the fault is not described to the client');
    const logged = log.lines().find((l) => l.msg === 'request handling failed');
    assert.match(String((logged?.err as { message?: string } | undefined)?.message), /a fault in routing/);
    // The same process answers the next request.
    assert.equal((await fetch(`${url}/other`)).status, 404);
  } finally {
    server.close();
  }
});
