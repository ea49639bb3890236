import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { call, parseRawResponse, rawGet, rawRequest, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { startEchoUpstream, type EchoUpstream } from '../helpers/upstream.js';
import { waitUntil } from '../helpers/wait.js';

// Answers the listener gives before (or instead of) the request handler: they are requests no route
// took, so they are counted under route "(none)" and logged, one line each, like the handler's own.

let up: EchoUpstream;
let t: TestGateway;
const SECRET = 'Bearer hunter2-never-logged';

before(async () => {
  up = await startEchoUpstream();
  t = await startTestGateway({
    admin: { enabled: true, host: '127.0.0.1', port: 0 },
    limits: { maxHeaderBytes: 4096, requestTimeoutMs: 400, maxConnections: 3 },
    routes: [{ path: '/', upstream: up.url, auth: 'none' }],
  });
});

after(async () => {
  await t.close();
  await up.close();
});

/** The request-log lines written since `from` lines had been. */
function linesSince(from: number): Record<string, unknown>[] {
  return t.requestLogs().slice(from);
}

async function requestsTotal(status: number): Promise<number> {
  const text = (await call(`${t.gw.adminUrl}/metrics`)).text;
  const m = new RegExp(`^gatehouse_requests_total\\{route="\\(none\\)",status="${status}"\\} (\\d+)$`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

test('oversized headers (431): counted under (none) and logged once, without a request line, id or header value', async () => {
  const before = t.requestLogs().length;
  const counted = await requestsTotal(431);
  const res = await rawRequest(t.gw.url, rawGet('/x', [`Authorization: ${SECRET}`, `X-Big: ${'a'.repeat(8000)}`]));
  assert.equal(res.status, 431);
  assert.deepEqual(
    linesSince(before).map(({ time: _time, ...rest }) => rest),
    [{ level: 'info', path: '(unparsed)', status: 431, msg: 'request' }],
  );
  assert.equal(await requestsTotal(431), counted + 1);
  assert.doesNotMatch(t.logText(), /hunter2/);
});

test('a malformed request (400) and a request line that is not HTTP: counted and logged', async () => {
  const before = t.requestLogs().length;
  const counted = await requestsTotal(400);
  for (const text of [`GET /x HTTP/1.1\r\nHost: a\r\nAuthorization: ${SECRET}\r\nBad Header\r\n\r\n`, 'HELLO THERE\r\n\r\n']) {
    assert.equal((await rawRequest(t.gw.url, text)).status, 400);
  }
  const lines = linesSince(before);
  assert.deepEqual(lines.map((l) => [l.status, l.path, l.method, l.route, l.requestId]), [
    [400, '(unparsed)', undefined, undefined, undefined],
    [400, '(unparsed)', undefined, undefined, undefined],
  ]);
  assert.equal(await requestsTotal(400), counted + 2);
  assert.doesNotMatch(t.logText(), /hunter2/);
});

test('an Expect other than 100-continue (417): counted and logged with its method and normalized path', async () => {
  const before = t.requestLogs().length;
  const counted = await requestsTotal(417);
  const res = await rawRequest(t.gw.url, ['POST /a/./b HTTP/1.1', 'Host: a', 'Expect: foo', `Authorization: ${SECRET}`, 'Content-Length: 0', '', ''].join('\r\n'));
  assert.equal(res.status, 417);
  const [line, ...rest] = linesSince(before);
  assert.equal(rest.length, 0);
  assert.equal(line?.method, 'POST');
  assert.equal(line?.path, '/a/b');
  assert.equal(line?.status, 417);
  assert.equal('route' in (line ?? {}), false);
  assert.equal(await requestsTotal(417), counted + 1);
  assert.doesNotMatch(t.logText(), /hunter2/);
});

test('a token-like run in a refused request\'s path is masked in its log line', async () => {
  const before = t.requestLogs().length;
  const token = 'x'.repeat(48);
  const res = await rawRequest(t.gw.url, [`GET /cb/${token} HTTP/1.1`, 'Host: a', 'Expect: foo', 'Connection: close', '', ''].join('\r\n'));
  assert.equal(res.status, 417);
  assert.equal(linesSince(before)[0]?.path, '/cb/[redacted]');
});

test('CONNECT (501): counted and logged with its method; its target is no path and is not logged', async () => {
  const before = t.requestLogs().length;
  const counted = await requestsTotal(501);
  const res = await rawRequest(t.gw.url, 'CONNECT secret-target.test:443 HTTP/1.1\r\nHost: secret-target.test:443\r\n\r\n');
  assert.equal(res.status, 501);
  const lines = linesSince(before);
  assert.deepEqual(lines.map((l) => [l.method, l.path, l.status]), [['CONNECT', '(rejected)', 501]]);
  assert.equal(await requestsTotal(501), counted + 1);
  assert.doesNotMatch(t.logText(), /secret-target/);
});

test('headers that never complete (408): counted and logged once', async () => {
  const before = t.requestLogs().length;
  const counted = await requestsTotal(408);
  const socket = connect(Number(new URL(t.gw.url).port), '127.0.0.1');
  const chunks: Buffer[] = [];
  socket.on('data', (d: Buffer) => chunks.push(d));
  socket.write(`GET /x HTTP/1.1\r\nHost: a\r\nAuthorization: ${SECRET}\r\n`);
  await new Promise((r) => socket.once('close', r));
  assert.equal(parseRawResponse(Buffer.concat(chunks).toString('latin1')).status, 408);
  assert.deepEqual(linesSince(before).map((l) => [l.path, l.status]), [['(unparsed)', 408]]);
  assert.equal(await requestsTotal(408), counted + 1);
});

test('a request the handler took whose body then times out is counted once, by the handler', async () => {
  const before = t.requestLogs().length;
  const socket = connect(Number(new URL(t.gw.url).port), '127.0.0.1');
  socket.on('error', () => {});
  socket.resume();
  socket.write('POST /trickle HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nab');
  await new Promise((r) => socket.once('close', r));
  await waitUntil(() => linesSince(before).some((l) => l.path === '/trickle'), 'the handler logged the request');
  const lines = linesSince(before);
  assert.equal(lines.length, 1, JSON.stringify(lines));
  assert.equal(lines[0]?.path, '/trickle');
});

test('connections closed at maxConnections are counted (gatehouse_connections_rejected_total) and warned about', async () => {
  const port = Number(new URL(t.gw.url).port);
  const open = async (): Promise<Socket> => {
    const s = connect(port, '127.0.0.1');
    s.on('error', () => {});
    await new Promise((r) => s.once('connect', r));
    return s;
  };
  const held = [await open(), await open(), await open()];
  try {
    for (const s of held) s.write('GET /held HTTP/1.1\r\nHost: a\r\n');
    await new Promise((r) => setImmediate(r));
    const extra = await open();
    extra.resume();
    await new Promise((r) => extra.once('close', r));
  } finally {
    for (const s of held) s.destroy();
  }
  const text = (await call(`${t.gw.adminUrl}/metrics`)).text;
  assert.match(text, /^gatehouse_connections_rejected_total 1$/m);
  assert.match(t.logText(), /"maxConnections":3,"msg":"connection limit reached: new connections are closed at accept"/);
});
