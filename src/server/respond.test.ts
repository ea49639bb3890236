import assert from 'node:assert/strict';
import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { GatehouseError, InsufficientScope, problemDetails, wwwAuthenticate } from '../errors.js';
import { sendError, type ErrorResponseOptions } from './respond.js';

interface Answer {
  status: number;
  headers: IncomingMessage['headers'];
  body: string;
}

/** Serves one error per request through a real server, so Node's own header handling is part of the test. */
async function withServer(respond: (res: ServerResponse) => void, fn: (get: () => Promise<Answer>) => Promise<void>): Promise<void> {
  const server = createServer((_req, res) => respond(res));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const get = () =>
    new Promise<Answer>((resolve, reject) => {
      request({ port, host: '127.0.0.1', path: '/' }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
      })
        .on('error', reject)
        .end();
    });
  try {
    await fn(get);
  } finally {
    server.close();
  }
}

const cases: Array<[GatehouseError, ErrorResponseOptions]> = [
  [new GatehouseError('GH_TOKEN_INVALID', 'signature invalid'), { realm: 'gatehouse', requestId: 'abc-1' }],
  [new GatehouseError('GH_TOKEN_INVALID', 'signature invalid'), { realm: 'other "realm"', requestId: 'abc-2', hsts: 'max-age=60' }],
  [new GatehouseError('GH_TOKEN_MISSING', 'a Bearer token is required'), { realm: 'gatehouse' }],
  [new InsufficientScope(['orders:read', 'orders:write']), { realm: 'gatehouse', requestId: 'r:3@x' }],
  [new GatehouseError('GH_METHOD_NOT_ALLOWED', 'no'), { realm: 'gatehouse', requestId: 'r4', allow: 'GET, HEAD' }],
  [new GatehouseError('GH_BODY_TOO_LARGE', 'too large'), { realm: 'gatehouse', requestId: 'r5', close: true }],
  [new GatehouseError('GH_INTROSPECTION_UNAVAILABLE', 'down'), { realm: 'gatehouse', requestId: 'r6' }],
  [new GatehouseError('GH_SESSION_STORE_UNAVAILABLE', 'down'), { realm: 'gatehouse', requestId: 'r7', hsts: 'max-age=60' }],
];

test('error responses: body, challenge and headers as problemDetails and wwwAuthenticate make them, on repeated use too', async () => {
  let i = 0;
  await withServer(
    (res) => {
      const [err, opts] = cases[i % cases.length]!;
      sendError(res, err, opts);
    },
    async (get) => {
      for (; i < cases.length * 2; i++) {
        const [err, opts] = cases[i % cases.length]!;
        const a = await get();
        assert.equal(a.status, err.status);
        assert.equal(a.body, JSON.stringify(problemDetails(err, opts.requestId)));
        assert.equal(a.headers['content-type'], 'application/problem+json');
        assert.equal(a.headers['content-length'], String(Buffer.byteLength(a.body)));
        assert.equal(a.headers['cache-control'], 'no-store');
        assert.equal(a.headers['x-request-id'], opts.requestId);
        assert.equal(a.headers['strict-transport-security'], opts.hsts);
        assert.equal(a.headers.allow, opts.allow);
        const challenged = err.status === 401 || err.bearerError !== undefined;
        assert.equal(a.headers['www-authenticate'], challenged ? wwwAuthenticate(err, opts.realm) : undefined);
        if (opts.close) assert.equal(a.headers.connection, 'close');
        // A dependency that failed: clients get a hint when to retry.
        assert.equal(a.headers['retry-after'], err.status === 503 ? '5' : undefined);
      }
    },
  );
});

test('error responses carry the extra headers, and merge with headers set beforehand', async () => {
  let preset = false;
  await withServer(
    (res) => {
      if (preset) res.setHeader('x-preset', 'yes');
      sendError(res, new GatehouseError('GH_SESSION_INVALID', 'session ended'), { realm: 'gatehouse', requestId: 'id1' }, [
        'set-cookie',
        'a=; Max-Age=0',
        'set-cookie',
        'b=; Max-Age=0',
      ]);
    },
    async (get) => {
      for (const p of [false, true]) {
        preset = p;
        const a = await get();
        assert.equal(a.status, 401);
        assert.deepEqual(a.headers['set-cookie'], ['a=; Max-Age=0', 'b=; Max-Age=0']);
        assert.equal(a.headers['x-request-id'], 'id1');
        assert.equal(a.headers['x-preset'], p ? 'yes' : undefined);
        assert.equal(a.headers['content-length'], String(Buffer.byteLength(a.body)));
      }
    },
  );
});
