import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { PassThrough } from 'node:stream';
import { after, before, test } from 'node:test';
import { request } from 'undici';
import { call, parseRawResponse, rawGet, rawRequest, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { closesWithin, openConnection, responseOn, type RawConnection } from '../helpers/raw-connection.js';
import { MAX_WAITING_REQUESTS } from '../../src/server/pipelined.js';
import { startEchoUpstream, type EchoUpstream } from '../helpers/upstream.js';
import { waitUntil } from '../helpers/wait.js';

let up: EchoUpstream;
let t: TestGateway;

before(async () => {
  up = await startEchoUpstream();
  t = await startTestGateway({
    limits: { maxHeaderBytes: 4096, maxUrlLength: 1024, maxBodyBytes: 100_000, requestTimeoutMs: 400, maxConnections: 3 },
    routes: [
      { path: '/', upstream: up.url, auth: 'none' },
      { path: '/small', upstream: up.url, auth: 'none', maxBodyBytes: 1000 },
    ],
  });
});

after(async () => {
  await t.close();
  await up.close();
});

test('oversized headers: 431 problem+json, not a reset', async () => {
  const res = await rawRequest(t.gw.url, rawGet('/x', [`X-Big: ${'a'.repeat(8000)}`]));
  assert.equal(res.status, 431, res.raw.slice(0, 200));
  assert.equal(res.headers['content-type'], 'application/problem+json');
  assert.equal(JSON.parse(res.body).code, 'GH_HEADERS_TOO_LARGE');
});

test('oversized headers through an ordinary client', async () => {
  const res = await call(`${t.gw.url}/x`, { headers: { 'x-big': 'b'.repeat(20_000) } });
  assert.equal(res.status, 431);
});

test('long URL: 414', async () => {
  const res = await call(`${t.gw.url}/x?${'q'.repeat(2000)}`);
  assert.equal(res.status, 414);
  assert.equal(res.json().code, 'GH_URI_TOO_LONG');
});

test('body over the route limit, announced by Content-Length: 413 before anything is forwarded', async () => {
  const before = up.received.length;
  const res = await call(`${t.gw.url}/small/x`, { method: 'POST', body: Buffer.alloc(5000) });
  assert.equal(res.status, 413);
  assert.equal(res.json().code, 'GH_BODY_TOO_LARGE');
  assert.equal(up.received.length, before, 'the upstream saw nothing');
});

test('chunked body over the route limit: 413, counted while streaming', async () => {
  const body = new PassThrough();
  const pending = request(`${t.gw.url}/small/chunked`, { method: 'POST', body });
  for (let i = 0; i < 5; i++) body.write(Buffer.alloc(400));
  body.end();
  const res = await pending;
  assert.equal(res.statusCode, 413);
  assert.equal(((await res.body.json()) as { code: string }).code, 'GH_BODY_TOO_LARGE');
});

test('a chunked body that passes the limit while still arriving: 413 and Connection: close; the gateway keeps serving', async () => {
  // Reading stops mid-body here; the request stream must outlive that, or the error path finds no socket and throws inside undici.
  const conn = await openConnection(Number(new URL(t.gw.url).port));
  const chunk = (n: number) => `${n.toString(16)}\r\n${'a'.repeat(n)}\r\n`;
  conn.socket.write('POST /small/trickled HTTP/1.1\r\nHost: gateway.test\r\nTransfer-Encoding: chunked\r\n\r\n');
  for (let i = 0; i < 3 && !conn.socket.destroyed; i++) {
    await new Promise((r) => setTimeout(r, 50));
    conn.socket.write(chunk(600));
  }
  const res = await responseOn(conn);
  assert.equal(res.status, 413, res.head);
  assert.match(res.head, /\r\nconnection: close/i);
  assert.equal((JSON.parse(res.body) as { code: string }).code, 'GH_BODY_TOO_LARGE');
  await conn.closed;
  const next = await rawRequest(t.gw.url, rawGet('/after'));
  assert.equal(next.status, 200);
});

test('a body within the limit passes', async () => {
  const res = await call(`${t.gw.url}/small/x`, { method: 'POST', body: Buffer.alloc(1000, 0x61) });
  assert.equal(res.status, 200);
  assert.equal(res.json().bodyBytes, 1000);
});

test('a request that never completes its headers: 408', async () => {
  const socket = connect(Number(new URL(t.gw.url).port), '127.0.0.1');
  const chunks: Buffer[] = [];
  socket.on('data', (d: Buffer) => chunks.push(d));
  socket.write('GET /x HTTP/1.1\r\nHost: gateway.test\r\n');
  await new Promise((r) => socket.once('close', r));
  const res = parseRawResponse(Buffer.concat(chunks).toString('latin1'));
  assert.equal(res.status, 408);
  assert.equal(JSON.parse(res.body).code, 'GH_REQUEST_TIMEOUT');
});

test('a body that trickles past the request timeout: 408, and the upstream request is abandoned', async () => {
  const socket = connect(Number(new URL(t.gw.url).port), '127.0.0.1');
  const chunks: Buffer[] = [];
  socket.on('data', (d: Buffer) => chunks.push(d));
  socket.on('error', () => {});
  socket.write('POST /trickle HTTP/1.1\r\nHost: gateway.test\r\nContent-Length: 10\r\n\r\nab');
  await new Promise((r) => socket.once('close', r));
  const res = parseRawResponse(Buffer.concat(chunks).toString('latin1'));
  assert.equal(res.status, 408);
  assert.equal(up.received.filter((r) => r.path === '/trickle').length, 0, 'the upstream never got a complete request');
});

test('connections beyond maxConnections are closed at once; the gateway serves again afterwards', async () => {
  const port = Number(new URL(t.gw.url).port);
  const open = async (): Promise<Socket> => {
    const s = connect(port, '127.0.0.1');
    await new Promise((r) => s.once('connect', r));
    return s;
  };
  const held = [await open(), await open(), await open()];
  // Make sure the server has accepted (and counted) the three held connections.
  for (const s of held) s.write('GET /held HTTP/1.1\r\nHost: gateway.test\r\n');
  await new Promise((r) => setImmediate(r));
  const extra = await open();
  const received: Buffer[] = [];
  extra.on('data', (d: Buffer) => received.push(d));
  extra.on('error', () => {});
  extra.write('GET /x HTTP/1.1\r\nHost: gateway.test\r\nConnection: close\r\n\r\n');
  await new Promise((r) => extra.once('close', r));
  assert.equal(Buffer.concat(received).length, 0, 'the extra connection got no response: it was dropped');
  for (const s of held) s.destroy();
  // Once the held sockets are gone the gateway accepts again.
  let status = 0;
  for (let i = 0; i < 50 && status !== 200; i++) {
    status = (await rawRequest(t.gw.url, rawGet('/x')).catch(() => ({ status: 0 }))).status;
    if (status !== 200) await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal(status, 200);
});

test('still serving after every limit was hit', async () => {
  const res = await call(`${t.gw.url}/fine`);
  assert.equal(res.status, 200);
});

/** An upstream with a large response at `/big` (too large for the socket buffers) and a small one elsewhere; counts `/big` requests in flight. */
async function startBigUpstream(): Promise<{ url: string; maxBigInFlight: () => number; close: () => Promise<void> }> {
  // Far beyond what loopback socket buffers hold on any kernel, so an unread answer stays unsent.
  const big = Buffer.alloc(32 * 1024 * 1024, 0x61);
  let inFlight = 0;
  let maxInFlight = 0;
  const server = createServer((req, res) => {
    req.resume();
    if (req.url !== '/big') return res.end('small');
    maxInFlight = Math.max(maxInFlight, ++inFlight);
    res.on('close', () => inFlight--);
    res.writeHead(200, { 'content-length': String(big.length) });
    res.end(big);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    maxBigInFlight: () => maxInFlight,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** Another client's GET on a fresh connection: its answer, failing if none comes within 10 s. */
async function answerTo(port: number, path: string): Promise<{ status: number; body: string }> {
  const conn = await openConnection(port);
  conn.socket.write(rawGet(path));
  assert.equal(await closesWithin(conn, 10_000), 'closed', `no answer to ${path} within 10 s`);
  const res = parseRawResponse(conn.received());
  return { status: res.status, body: res.body };
}

test('pipelined requests still waiting their turn when the client leaves are logged and counted as 499', async () => {
  const big = await startBigUpstream();
  const gw = await startTestGateway({ routes: [{ path: '/', upstream: big.url, auth: 'none' }] });
  try {
    const conn = await pipelineWithoutReading(Number(new URL(gw.gw.url).port), 3);
    await waitUntil(() => big.maxBigInFlight() > 0, 'the first pipelined request to reach the upstream');
    conn.socket.destroy();
    await waitUntil(() => gw.requestLogs().filter((l) => l.status === 499).length === 3, 'a 499 line for each of the three requests');
    assert.deepEqual(gw.requestLogs().map((l) => l.path).sort(), ['(not started)', '(not started)', '/big'], 'the two that never had a turn say so');
  } finally {
    await gw.close();
    await big.close();
  }
});

/** Pipelines `count` GETs for `/big` on one connection and never reads the answers. */
async function pipelineWithoutReading(port: number, count: number): Promise<RawConnection> {
  const conn = await openConnection(port);
  conn.socket.pause();
  conn.socket.write('GET /big HTTP/1.1\r\nHost: gateway.test\r\n\r\n'.repeat(count));
  return conn;
}

test('pipelined requests are forwarded one at a time: a connection that stops reading holds one upstream connection, not the pool', async () => {
  const big = await startBigUpstream();
  const gw = await startTestGateway({ limits: { upstreamConnections: 2 }, routes: [{ path: '/', upstream: big.url, auth: 'none' }] });
  try {
    const attacker = await pipelineWithoutReading(Number(new URL(gw.gw.url).port), 8);
    await waitUntil(() => big.maxBigInFlight() > 0, 'the first pipelined request to reach the upstream');
    assert.deepEqual(await answerTo(Number(new URL(gw.gw.url).port), '/small'), { status: 200, body: 'small' });
    assert.equal(big.maxBigInFlight(), 1, 'one pipelined request upstream at a time');
    attacker.socket.destroy();
  } finally {
    await gw.close();
    await big.close();
  }
});

test('a client that stops reading its response is cut after sendTimeoutMs, and frees the upstream connection', async () => {
  const big = await startBigUpstream();
  const gw = await startTestGateway({ limits: { upstreamConnections: 1, sendTimeoutMs: 300 }, routes: [{ path: '/', upstream: big.url, auth: 'none' }] });
  try {
    const attacker = await pipelineWithoutReading(Number(new URL(gw.gw.url).port), 8);
    await waitUntil(() => big.maxBigInFlight() > 0, 'the first pipelined request to reach the upstream');
    assert.deepEqual(await answerTo(Number(new URL(gw.gw.url).port), '/small'), { status: 200, body: 'small' });
    await waitUntil(() => gw.requestLogs().some((l) => l.status === 499), 'the cut response to be logged as 499');
    // A client that does not read does not see the close either: reading again, it finds the response cut short.
    attacker.socket.resume();
    assert.equal(await closesWithin(attacker, 10_000), 'closed', 'the connection that stopped reading is cut');
    assert.equal(attacker.received().split('HTTP/1.1 200 ').length - 1, 1, 'one response started, none after it');
    assert.ok(attacker.received().length < 32 * 1024 * 1024, 'and that one is incomplete');
  } finally {
    await gw.close();
    await big.close();
  }
});

test('a client that reads slowly but steadily is not cut by a short upstream timeout: sendTimeoutMs bounds it, not the route\'s timeoutMs', async () => {
  const big = await startBigUpstream();
  const gw = await startTestGateway({ limits: { upstreamTimeoutMs: 250 }, routes: [{ path: '/', upstream: big.url, auth: 'none' }] });
  try {
    const conn = await openConnection(Number(new URL(gw.gw.url).port));
    conn.socket.pause();
    conn.socket.write(rawGet('/big'));
    // 16 KiB every 50 ms (320 KiB/s) for 2 s: never a pause near 250 ms, yet far slower than the
    // gateway can send, so its backlog takes many times 250 ms to empty (and the kernel shows
    // the reading only every few seconds here, which the default sendTimeoutMs allows for).
    let taken = 0;
    for (let i = 0; i < 40 && !conn.socket.destroyed; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      for (let chunk = conn.socket.read(16 * 1024) as Buffer | null; chunk !== null && taken < (i + 1) * 16 * 1024; ) {
        taken += chunk.length;
        chunk = taken < (i + 1) * 16 * 1024 ? (conn.socket.read(16 * 1024) as Buffer | null) : null;
      }
    }
    assert.equal(conn.socket.destroyed, false, 'the connection is still open');
    assert.ok(taken >= 20 * 16 * 1024, `the client read steadily (${taken} bytes)`);
    assert.deepEqual(gw.requestLogs().filter((l) => l.status === 499), [], 'nothing was cut');
    conn.socket.destroy();
  } finally {
    await gw.close();
    await big.close();
  }
});

test(`a connection that pipelines more than ${MAX_WAITING_REQUESTS} requests behind an unfinished answer is closed; fewer are answered in order`, async () => {
  const big = await startBigUpstream();
  const gw = await startTestGateway({ routes: [{ path: '/', upstream: big.url, auth: 'none' }] });
  try {
    const port = Number(new URL(gw.gw.url).port);
    const greedy = await pipelineWithoutReading(port, MAX_WAITING_REQUESTS + 2);
    assert.equal(await closesWithin(greedy, 10_000), 'closed');
    // Every request it sent is accounted for: the one answered in part and each one refused a turn.
    await waitUntil(() => gw.requestLogs().filter((l) => l.status === 499).length === MAX_WAITING_REQUESTS + 2, 'a 499 line for each request of the closed connection');
    const polite = await openConnection(port);
    polite.socket.write(['/a', '/b', '/c'].map((p) => `GET ${p} HTTP/1.1\r\nHost: gateway.test\r\n${p === '/c' ? 'Connection: close\r\n' : ''}\r\n`).join(''));
    await polite.closed;
    assert.equal(polite.received().split('HTTP/1.1 200 ').length - 1, 3, polite.received());
  } finally {
    await gw.close();
    await big.close();
  }
});
