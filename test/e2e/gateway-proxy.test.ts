import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type ServerResponse } from 'node:http';
import { connect, createServer as createNetServer, type AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import { after, before, test } from 'node:test';
import { request } from 'undici';
import { ProxyHandler } from '../../src/server/forward.js';
import { call, parseRawResponse, rawGet, rawRequest, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { closesWithin, openConnection } from '../helpers/raw-connection.js';
import { refusedPort, startEchoUpstream, STREAM_FIRST, STREAM_REST, type EchoRecord, type EchoUpstream } from '../helpers/upstream.js';
import { waitUntil } from '../helpers/wait.js';

let up: EchoUpstream;
let slowUp: EchoUpstream;
let t: TestGateway;
let trusting: TestGateway;
let deadPort: number;

before(async () => {
  up = await startEchoUpstream();
  slowUp = await startEchoUpstream();
  deadPort = await refusedPort();
  const routes = [
    { path: '/', upstream: up.url, auth: 'none' },
    { path: '/slow', upstream: slowUp.url, auth: 'none', timeoutMs: 300 },
    { path: '/stream', upstream: slowUp.url, auth: 'none' },
    { path: '/down', upstream: `http://127.0.0.1:${deadPort}`, auth: 'none' },
  ];
  t = await startTestGateway({ routes, trustedProxies: ['10.0.0.0/8', 'fd00::/8'] });
  trusting = await startTestGateway({ routes: [{ path: '/', upstream: up.url, auth: 'none' }], trustedProxies: ['127.0.0.0/8'] });
});

after(async () => {
  await t.close();
  await trusting.close();
  await up.close();
  await slowUp.close();
});

test('hop-by-hop headers are removed in both directions, and those named in Connection', async () => {
  up.setMode('hop-by-hop');
  try {
    const res = await rawRequest(
      t.gw.url,
      [
        'GET /hop HTTP/1.1',
        'Host: gateway.test',
        'Connection: close, x-private-hop',
        'X-Private-Hop: secret',
        'Keep-Alive: timeout=5',
        'TE: trailers',
        'Proxy-Authorization: Basic Zm9vOmJhcg==',
        'Upgrade: websocket',
        'X-Kept: yes',
        '',
        '',
      ].join('\r\n'),
    );
    assert.equal(res.status, 200);
    const got = JSON.parse(res.body) as EchoRecord;
    for (const h of ['x-private-hop', 'keep-alive', 'te', 'proxy-authorization', 'upgrade']) {
      assert.equal(got.headers[h], undefined, `${h} must not reach the upstream`);
    }
    assert.equal(got.headers['x-kept'], 'yes');
    assert.equal(res.headers['x-upstream-private'], undefined, 'Connection-listed response header removed');
    assert.equal(res.headers['keep-alive'], undefined);
    assert.equal(res.headers['proxy-authenticate'], undefined);
    assert.equal(res.headers['x-upstream-public'], 'passes');
  } finally {
    up.setMode('echo');
  }
});

test('X-Forwarded-* from an untrusted peer are replaced', async () => {
  const res = await call(`${t.gw.url}/xff`, {
    headers: { 'x-forwarded-for': '6.6.6.6', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'evil.test', forwarded: 'for=6.6.6.6', 'x-real-ip': '6.6.6.6' },
  });
  const got = res.json<EchoRecord>();
  assert.equal(got.headers['x-forwarded-for'], '127.0.0.1');
  assert.equal(got.headers['x-forwarded-proto'], 'http');
  assert.match(String(got.headers['x-forwarded-host']), /^127\.0\.0\.1:\d+$/);
  assert.equal(got.headers.forwarded, undefined);
  assert.equal(got.headers['x-real-ip'], undefined);
});

test('other client-fact headers (X-Client-IP, Client-IP, True-Client-IP, X-Forwarded-Ssl, X-Host …) and Proxy are dropped from an untrusted peer, kept from a trusted proxy', async () => {
  const facts = {
    'x-client-ip': '6.6.6.6',
    // PHP's common "client IP" snippet reads HTTP_CLIENT_IP before X-Forwarded-For.
    'client-ip': '6.6.6.6',
    'x-originating-ip': '6.6.6.6',
    'x-forwarded': 'for=6.6.6.6',
    'forwarded-for': '6.6.6.6',
    'x-host': 'admin.internal',
    'true-client-ip': '6.6.6.6',
    'cf-connecting-ip': '6.6.6.6',
    'x-cluster-client-ip': '6.6.6.6',
    'x-forwarded-ssl': 'on',
    'x-forwarded-port': '443',
    'x-forwarded-prefix': '/admin',
    x_client_ip: '6.6.6.6',
  };
  const got = (await call(`${t.gw.url}/xff`, { headers: { ...facts, proxy: 'http://evil.test:8080' } })).json<EchoRecord>();
  const names = got.rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase().replaceAll('_', '-'));
  for (const name of [...Object.keys(facts), 'proxy']) assert.ok(!names.includes(name.replaceAll('_', '-')), name);
  const trusted = (await call(`${trusting.gw.url}/xff`, { headers: { ...facts, proxy: 'http://evil.test:8080' } })).json<EchoRecord>();
  assert.equal(trusted.headers['x-client-ip'], '6.6.6.6');
  assert.equal(trusted.headers['client-ip'], '6.6.6.6');
  assert.equal(trusted.headers['x-forwarded-ssl'], 'on');
  assert.equal(trusted.headers.proxy, undefined, 'httpoxy: never forwarded');
  assert.equal(trusted.headers.x_client_ip, undefined, 'underscore spellings never');
});

test('an upstream cannot set cookies in the gateway namespace (__Host-gh_*, any case, nameless) nor HSTS; its own cookies pass', async () => {
  up.setMode('cookies');
  try {
    const res = await call(`${t.gw.url}/xff`);
    assert.equal(res.status, 200);
    assert.deepEqual(res.headers['set-cookie'], ['app=1; Path=/', 'theme=dark']);
    assert.equal(res.headers['strict-transport-security'], undefined);
  } finally {
    up.setMode('echo');
  }
});

test('underscore and dot spellings of the proxy headers are dropped (a CGI-style upstream would read them as its own)', async () => {
  const res = await call(`${t.gw.url}/xff`, {
    headers: {
      x_forwarded_for: '6.6.6.6',
      'X-Forwarded_Proto': 'https',
      x_real_ip: '6.6.6.6',
      x_request_id: 'forged',
      'x-custom_header': 'kept',
      'X.Forwarded.For': '6.6.6.6',
      'X.HTTP.Method.Override': 'DELETE',
      'client.ip': '6.6.6.6',
    },
  });
  const got = res.json<EchoRecord>();
  const names = got.rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
  const dropped = ['x_forwarded_for', 'x-forwarded_proto', 'x_real_ip', 'x_request_id', 'x.forwarded.for', 'x.http.method.override', 'client.ip'];
  for (const name of dropped) assert.ok(!names.includes(name), name);
  assert.equal(got.headers['x-forwarded-for'], '127.0.0.1');
  assert.equal(got.headers['x-custom_header'], 'kept', 'other underscore names pass');
});

test('X-Forwarded-* from a trusted proxy are kept and appended to', async () => {
  const res = await call(`${trusting.gw.url}/xff`, {
    headers: { 'x-forwarded-for': '203.0.113.9, 10.0.0.2', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'shop.example' },
  });
  const got = res.json<EchoRecord>();
  assert.equal(got.headers['x-forwarded-for'], '203.0.113.9, 10.0.0.2, 127.0.0.1');
  assert.equal(got.headers['x-forwarded-proto'], 'https');
  assert.equal(got.headers['x-forwarded-host'], 'shop.example');
});

test('from a trusted proxy, repeated X-Forwarded-Proto/-Host lines (or one list) pass on their first element; Forwarded is extended with this hop', async () => {
  const res = await rawRequest(
    trusting.gw.url,
    [
      'GET /lists HTTP/1.1',
      'Host: gw.test',
      'X-Forwarded-Proto: https',
      'X-Forwarded-Proto: http',
      'X-Forwarded-Host: shop.example, inner.example',
      'Forwarded: for=203.0.113.9;proto=https',
      'Connection: close',
      '',
      '',
    ].join('\r\n'),
  );
  assert.equal(res.status, 200);
  const got = JSON.parse(res.body) as EchoRecord;
  assert.equal(got.headers['x-forwarded-proto'], 'https');
  assert.equal(got.headers['x-forwarded-host'], 'shop.example');
  assert.equal(got.headers.forwarded, 'for=203.0.113.9;proto=https, for=127.0.0.1;proto=http');
});

test('over IPv6: a trusted ::1 peer has its X-Forwarded-For appended to, an untrusted one replaced', async () => {
  const routes = [{ path: '/', upstream: up.url, auth: 'none' }];
  const trusted6 = await startTestGateway({ listen: { host: '::1', port: 0 }, routes, trustedProxies: ['::1/128'] });
  const untrusted6 = await startTestGateway({ listen: { host: '::1', port: 0 }, routes, trustedProxies: ['fd00::/8'] });
  try {
    assert.match(trusted6.gw.url, /^http:\/\/\[::1\]:\d+$/);
    const headers = { 'x-forwarded-for': '2001:db8::7', 'x-forwarded-proto': 'https' };
    const kept = (await call(`${trusted6.gw.url}/v6`, { headers })).json<EchoRecord>();
    assert.equal(kept.headers['x-forwarded-for'], '2001:db8::7, ::1');
    assert.equal(kept.headers['x-forwarded-proto'], 'https');
    const replaced = (await call(`${untrusted6.gw.url}/v6`, { headers })).json<EchoRecord>();
    assert.equal(replaced.headers['x-forwarded-for'], '::1');
    assert.equal(replaced.headers['x-forwarded-proto'], 'http');
  } finally {
    await trusted6.close();
    await untrusted6.close();
  }
});

test('request id: a sane inbound one is propagated, anything else replaced', async () => {
  const kept = await call(`${t.gw.url}/rid`, { headers: { 'x-request-id': 'abc-123_x.y:z' } });
  assert.equal(kept.headers['x-request-id'], 'abc-123_x.y:z');
  assert.equal(kept.json<EchoRecord>().headers['x-request-id'], 'abc-123_x.y:z');
  const replaced = await call(`${t.gw.url}/rid`, { headers: { 'x-request-id': 'bad value with spaces <script>' } });
  assert.match(String(replaced.headers['x-request-id']), /^[0-9a-f-]{36}$/);
  assert.equal(replaced.json<EchoRecord>().headers['x-request-id'], replaced.headers['x-request-id']);
});

test('a large chunked request body streams through intact', async () => {
  const body = new PassThrough();
  const hash = createHash('sha256');
  const pending = request(`${t.gw.url}/upload`, { method: 'POST', body });
  let total = 0;
  for (let i = 0; i < 64; i++) {
    const chunk = randomBytes(64 * 1024);
    hash.update(chunk);
    total += chunk.length;
    if (!body.write(chunk)) await new Promise((r) => body.once('drain', r));
  }
  body.end();
  const res = await pending;
  const got = (await res.body.json()) as EchoRecord;
  assert.equal(res.statusCode, 200);
  assert.equal(got.bodyBytes, total);
  assert.equal(got.bodySha256, hash.digest('hex'));
  assert.equal(got.headers['transfer-encoding'], 'chunked');
});

test('the request body is streamed, not buffered: the upstream answers after the first chunk', async () => {
  up.setMode('early');
  try {
    const body = new PassThrough();
    const pending = request(`${t.gw.url}/early`, { method: 'POST', body });
    body.write(Buffer.alloc(1000, 1));
    // The rest of the body is only sent once the upstream has answered: a buffering proxy would deadlock here.
    const res = await pending;
    assert.equal(res.statusCode, 200);
    const got = (await res.body.json()) as { firstChunkBytes: number };
    assert.ok(got.firstChunkBytes > 0);
    body.end(Buffer.alloc(1000, 2));
  } finally {
    up.setMode('echo');
  }
});

test('a slow streamed response reaches the client chunk by chunk', async () => {
  slowUp.setMode('stream');
  try {
    const res = await request(`${t.gw.url}/stream/x`);
    assert.equal(res.statusCode, 200);
    const it = res.body[Symbol.asyncIterator]();
    const first = await it.next();
    // The upstream has not finished: the first chunk arrived on its own.
    assert.equal(Buffer.from(first.value as Buffer).toString(), STREAM_FIRST);
    slowUp.release();
    let rest = '';
    for (let n = await it.next(); !n.done; n = await it.next()) rest += Buffer.from(n.value as Buffer).toString();
    assert.equal(rest, STREAM_REST);
  } finally {
    slowUp.setMode('echo');
  }
});

test('Expect: 100-continue is answered by the gateway and the body forwarded', async () => {
  const port = Number(new URL(t.gw.url).port);
  const socket = connect(port, '127.0.0.1');
  let text = '';
  socket.setEncoding('latin1');
  let sent = false;
  socket.on('data', (d: string) => {
    text += d;
    if (text.startsWith('HTTP/1.1 100') && !sent) {
      sent = true;
      socket.write('hello');
    }
  });
  socket.write('POST /expect HTTP/1.1\r\nHost: gateway.test\r\nExpect: 100-continue\r\nContent-Length: 5\r\nConnection: close\r\n\r\n');
  await new Promise((r) => socket.once('close', r));
  const final = parseRawResponse(text.slice(text.indexOf('\r\n\r\n') + 4));
  assert.equal(final.status, 200, text);
  const got = JSON.parse(final.body) as EchoRecord;
  assert.equal(got.body, 'hello');
  assert.equal(got.headers.expect, undefined);
});

test('an upstream that dies mid-body: the client sees a broken response, not a short success', async () => {
  up.setMode('reset');
  try {
    const res = await request(`${t.gw.url}/reset`);
    assert.equal(res.statusCode, 200);
    await assert.rejects(res.body.text());
  } finally {
    up.setMode('echo');
  }
  assert.equal((await call(`${t.gw.url}/after-reset`)).status, 200);
});

test('a 304 or 204 carrying Content-Length is relayed without a body (a 204 without the header), and the connection serves the next request', async () => {
  // RFC 9110 §8.6: a 304 may carry the length of the representation it stands for; no body follows.
  // A 204 may not carry Content-Length at all; some upstreams send one anyway.
  const validator = createServer((req, res) => {
    req.resume();
    if (req.url === '/304') res.writeHead(304, { etag: '"v1"', 'content-length': '1234' });
    else if (req.url === '/204') res.writeHead(204, { 'content-length': '5' });
    else res.writeHead(200, { 'content-length': '2' });
    res.end(req.url === '/ok' ? 'ok' : undefined);
  });
  await new Promise<void>((resolve) => validator.listen(0, '127.0.0.1', resolve));
  const gw = await startTestGateway({ routes: [{ path: '/', upstream: `http://127.0.0.1:${(validator.address() as AddressInfo).port}`, auth: 'none' }] });
  try {
    for (const path of ['/304', '/204']) {
      const res = await rawRequest(
        gw.gw.url,
        `GET ${path} HTTP/1.1\r\nHost: gateway.test\r\nIf-None-Match: "v1"\r\n\r\n` + rawGet('/ok'),
      );
      const answers = res.raw.split('HTTP/1.1 ').slice(1);
      assert.equal(answers.length, 2, `${path}: both answers arrive: ${JSON.stringify(res.raw.slice(0, 200))}`);
      assert.match(answers[0]!, path === '/304' ? /^304 .*etag: "v1"/is : /^204 /);
      if (path === '/204') assert.doesNotMatch(answers[0]!, /content-length/i);
      assert.match(answers[1]!, /^200 [\s\S]*\r\n\r\nok$/);
    }
  } finally {
    await gw.close();
    await new Promise((resolve) => validator.close(resolve));
  }
});

test('an upstream response in a transfer coding besides chunked: 502, not bytes the client cannot decode', async () => {
  const coded = createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'transfer-encoding': req.url === '/plain' ? 'chunked' : 'gzip, chunked' });
    res.end('not really gzip');
  });
  await new Promise<void>((resolve) => coded.listen(0, '127.0.0.1', resolve));
  const gw = await startTestGateway({ routes: [{ path: '/', upstream: `http://127.0.0.1:${(coded.address() as AddressInfo).port}`, auth: 'none' }] });
  try {
    const res = await call(`${gw.gw.url}/coded`);
    assert.equal(res.status, 502);
    assert.equal(res.json<{ code: string }>().code, 'GH_UPSTREAM_UNAVAILABLE');
    const plain = await call(`${gw.gw.url}/plain`);
    assert.equal(plain.status, 200);
    assert.equal(plain.text, 'not really gzip');
  } finally {
    await gw.close();
    await new Promise((resolve) => coded.close(resolve));
  }
});

test('a malformed request or CONNECT pipelined behind one still being answered: the answer under way arrives whole, and nothing answers in its place', async () => {
  slowUp.setMode('stream');
  try {
    const conversations = ['HELLO\r\n\r\n', 'CONNECT upstream.test:443 HTTP/1.1\r\nHost: upstream.test:443\r\n\r\n'].map((second) => {
      const socket = connect(Number(new URL(t.gw.url).port), '127.0.0.1');
      socket.setEncoding('latin1');
      let text = '';
      const firstChunk = new Promise<void>((resolve) => socket.on('data', (d: string) => ((text += d), text.includes(STREAM_FIRST) && resolve())));
      const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
      socket.write('GET /stream/pipelined HTTP/1.1\r\nHost: gateway.test\r\n\r\n' + second);
      return { firstChunk, closed, text: () => text };
    });
    // (A gateway answering in the wrong place closes the connection instead.)
    await Promise.all(conversations.map((c) => Promise.race([c.firstChunk, c.closed])));
    slowUp.release();
    // The connection stops reading and closes once the answer under way is complete.
    await Promise.all(conversations.map((c) => c.closed));
    for (const c of conversations) {
      const text = c.text();
      assert.equal(text.split('HTTP/1.1 ').length - 1, 1, `one answer only: ${text}`);
      assert.match(text, /^HTTP\/1\.1 200 /);
      assert.ok(text.endsWith(STREAM_FIRST + STREAM_REST) || text.includes(STREAM_REST), text);
    }
  } finally {
    slowUp.setMode('echo');
  }
});

test('a request whose client left while it waited for a pooled upstream connection is never sent upstream', async () => {
  const seen: string[] = [];
  let releaseA: (() => void) | undefined;
  const upstream = createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    req.resume();
    if (req.url === '/a') releaseA = () => res.end('a');
    else res.end('ok');
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  const gw = await startTestGateway({
    limits: { upstreamConnections: 1 },
    routes: [{ path: '/', upstream: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`, auth: 'none' }],
  });
  try {
    const port = Number(new URL(gw.gw.url).port);
    const a = rawRequest(gw.gw.url, rawGet('/a'));
    await waitUntil(() => releaseA !== undefined, 'the upstream to hold request A');
    // The gateway answers Expect with 100 Continue just before it hands the request to the pool:
    // seeing it, the client knows B waits there behind A.
    const b = await openConnection(port);
    b.socket.write('DELETE /b/42 HTTP/1.1\r\nHost: gateway.test\r\nExpect: 100-continue\r\n\r\n');
    await waitUntil(() => b.received().startsWith('HTTP/1.1 100 Continue'), 'the gateway to admit request B');
    b.socket.destroy();
    await waitUntil(() => gw.requestLogs().some((l) => l.method === 'DELETE' && l.status === 499), 'the gateway to log B as abandoned');
    releaseA?.();
    assert.equal((await a).status, 200);
    // The pool has one connection and serves in order: C arrives after anything still queued before it.
    assert.equal((await rawRequest(gw.gw.url, rawGet('/c'))).status, 200);
    assert.deepEqual(seen, ['GET /a', 'GET /c']);
  } finally {
    await gw.close();
    await new Promise((resolve) => upstream.close(resolve));
  }
});

test('an upstream that resets while the client is still sending its body: 502 with Connection: close (the half-read body could carry no next request)', async () => {
  // A raw upstream that resets the connection once it has read 3000 bytes of a request.
  const raw = createNetServer((socket) => {
    let got = 0;
    socket.on('error', () => {});
    socket.on('data', (d: Buffer) => {
      got += d.length;
      if (got > 3000) socket.resetAndDestroy();
    });
  });
  await new Promise<void>((r) => raw.listen(0, '127.0.0.1', r));
  const g = await startTestGateway({ routes: [{ path: '/', upstream: `http://127.0.0.1:${(raw.address() as AddressInfo).port}`, auth: 'none' }] });
  try {
    const conn = await openConnection(Number(new URL(g.gw.url).port));
    conn.socket.write('POST /up HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 8000\r\n\r\n' + 'b'.repeat(4000));
    await waitUntil(() => conn.received().includes('\r\n\r\n'), 'the answer');
    const head = conn.received().split('\r\n\r\n')[0] as string;
    assert.match(head, /^HTTP\/1\.1 502 /);
    assert.match(head, /\r\nconnection: close/i);
    await conn.closed;
  } finally {
    await g.close();
    raw.close();
  }
});

test('a request waiting for a free upstream connection gets 504 within its route\'s timeoutMs, and is never sent nor costs a connection; the held one is not disturbed', async () => {
  // One connection to the origin, held by /slow until released; every other path answers at once.
  let release: () => void = () => {};
  const held = new Promise<void>((r) => (release = r));
  const seen: string[] = [];
  const origin = createServer((req, res) => {
    seen.push(req.url as string);
    if (req.url === '/slow') void held.then(() => res.end('slow'));
    else res.end('fast');
  });
  let connections = 0;
  origin.on('connection', () => connections++);
  await new Promise<void>((r) => origin.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(origin.address() as AddressInfo).port}`;
  const g = await startTestGateway({
    limits: { upstreamConnections: 1 },
    routes: [
      { path: '/slow', upstream: url, auth: 'none', timeoutMs: 60_000 },
      { path: '/fast', upstream: url, auth: 'none', timeoutMs: 300 },
    ],
  });
  // A guard for the old behaviour (the queued request waited for /slow): released after 10 s at the latest.
  const guard = setTimeout(release, 10_000);
  try {
    const slow = call(`${g.gw.url}/slow`);
    await waitUntil(() => seen.length === 1, '/slow holds the one connection');
    const fast = await call(`${g.gw.url}/fast`);
    assert.equal(fast.status, 504);
    assert.equal(fast.json<{ code: string }>().code, 'GH_UPSTREAM_TIMEOUT');
    release();
    assert.equal((await slow).status, 200);
    assert.deepEqual(seen, ['/slow'], 'the request that timed out in the queue never reached the upstream');
    assert.equal((await call(`${g.gw.url}/fast`)).status, 200, 'the pool serves again');
    assert.equal(connections, 1, 'on the one connection: the request that timed out waiting cost none');
  } finally {
    clearTimeout(guard);
    release();
    await g.close();
    origin.close();
  }
});

test('a client that leaves just as the gate hands its request a freed connection costs no connection: the request is dropped unsent, the connection kept', async () => {
  let connections = 0;
  const seen: string[] = [];
  const origin = createServer((req, res) => {
    seen.push(req.url as string);
    setTimeout(() => res.end('ok'), req.url === '/slow' ? 200 : 0);
  });
  origin.on('connection', () => connections++);
  await new Promise<void>((r) => origin.listen(0, '127.0.0.1', r));
  const g = await startTestGateway({ limits: { upstreamConnections: 1 }, routes: [{ path: '/', upstream: `http://127.0.0.1:${(origin.address() as AddressInfo).port}`, auth: 'none' }] });
  // The handoff happens inside undici's completion of /slow; the request then waits one turn in
  // undici's own queue. The test makes the client leave in exactly that turn.
  const send = ProxyHandler.prototype.send;
  ProxyHandler.prototype.send = function (this: ProxyHandler) {
    // Private fields, read for this test only.
    const inside = this as unknown as { res: ServerResponse; options?: { path: string } };
    const victim = inside.options?.path === '/victim';
    send.call(this);
    if (victim) inside.res.socket?.destroy();
  };
  try {
    const slow = call(`${g.gw.url}/slow`);
    await waitUntil(() => seen.length === 1, '/slow holds the one connection');
    const victim = call(`${g.gw.url}/victim`).then(
      () => 'answered',
      () => 'left',
    );
    assert.equal((await slow).status, 200);
    assert.equal(await victim, 'left');
    assert.equal((await call(`${g.gw.url}/after`)).status, 200);
    assert.deepEqual(seen, ['/slow', '/after'], 'the request of the client that left was never sent');
    assert.equal(connections, 1, 'the kept-alive connection served on');
  } finally {
    ProxyHandler.prototype.send = send;
    await g.close();
    origin.close();
  }
});

test('upstream connection refused: 502 GH_UPSTREAM_UNAVAILABLE', async () => {
  const res = await call(`${t.gw.url}/down/x`);
  assert.equal(res.status, 502);
  assert.equal(res.headers['content-type'], 'application/problem+json');
  assert.equal(res.json().code, 'GH_UPSTREAM_UNAVAILABLE');
});

test('upstream too slow: 504 GH_UPSTREAM_TIMEOUT', async () => {
  slowUp.setMode('hang');
  try {
    const res = await call(`${t.gw.url}/slow/x`);
    assert.equal(res.status, 504);
    assert.equal(res.json().code, 'GH_UPSTREAM_TIMEOUT');
  } finally {
    slowUp.setMode('echo');
  }
  const metrics = await t.metrics.registry.metrics();
  assert.match(metrics, /gatehouse_upstream_errors_total\{route="\/slow",kind="timeout"\} 1/);
  assert.match(metrics, /gatehouse_upstream_errors_total\{route="\/down",kind="connect"\} [1-9]/);
});

test('upstream connections are pooled and kept alive', async () => {
  const before = up.connections;
  for (let i = 0; i < 20; i++) assert.equal((await call(`${t.gw.url}/pooled/${i}`)).status, 200);
  assert.ok(up.connections - before <= 2, `20 sequential requests used ${up.connections - before} new connections`);
});

test('200 concurrent requests all arrive, each with its own request id', async () => {
  const results = await Promise.all(Array.from({ length: 200 }, (_, i) => call(`${t.gw.url}/many/${i}`)));
  assert.ok(results.every((r) => r.status === 200));
  const paths = new Set(results.map((r) => r.json<EchoRecord>().path));
  assert.equal(paths.size, 200);
  assert.equal(new Set(results.map((r) => r.headers['x-request-id'])).size, 200);
});

test('still serving after upstream failures', async () => {
  const res = await call(`${t.gw.url}/after`, { method: 'PUT', body: '{"a":1}', headers: { 'content-type': 'application/json' } });
  assert.equal(res.status, 200);
  const got = res.json<EchoRecord>();
  assert.equal(got.method, 'PUT');
  assert.equal(got.body, '{"a":1}');
  assert.equal(got.headers['content-length'], '7');
});

test('an upstream that answers an upload before its body is in: the answer closes the connection, which would otherwise wait out the request timeout', async (t) => {
  // Answers every POST at once, reading none of it.
  const early = createServer((req, res) => {
    if (req.method !== 'POST') return res.end('get-ok');
    res.writeHead(401, { 'content-length': '4' });
    res.end('nope');
  });
  await new Promise<void>((resolve) => early.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    early.closeAllConnections();
    early.close();
  });
  const gw = await startTestGateway({ routes: [{ path: '/', upstream: `http://127.0.0.1:${(early.address() as AddressInfo).port}`, auth: 'none' }] });
  t.after(() => gw.close());
  const conn = await openConnection(Number(new URL(gw.gw.url).port));
  conn.socket.write('POST /upload HTTP/1.1\r\nHost: gateway.test\r\nTransfer-Encoding: chunked\r\n\r\n3e8\r\n' + 'a'.repeat(1000) + '\r\n');
  await waitUntil(() => conn.received().includes('nope'), 'the early answer');
  assert.match(conn.received(), /^HTTP\/1\.1 401 /);
  assert.match(conn.received(), /\r\nconnection: close\r\n/i, 'the client learns the rest of its body will not be read');
  assert.equal(await closesWithin(conn, 5000), 'closed', 'closed after the answer, not after requestTimeoutMs (30 s)');
});
