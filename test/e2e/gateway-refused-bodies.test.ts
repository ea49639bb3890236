import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { generateTestKey, mintToken, startJwksServer, testIssuerOptions, type JwksServer, type TestKey } from '../helpers/jwt.js';
import { parseRawResponse, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { startEchoUpstream, type EchoRecord, type EchoUpstream } from '../helpers/upstream.js';

// What happens to the body of a request the gateway refuses: it is never asked for
// (Expect: 100-continue), never read without bound (chunked, large), and never parsed
// as the next request; a small one is drained so the connection stays usable.

let up: EchoUpstream;
let jwks: JwksServer;
let key: TestKey;
let t: TestGateway;

before(async () => {
  up = await startEchoUpstream();
  key = generateTestKey('ES256');
  jwks = await startJwksServer([key]);
  t = await startTestGateway({
    limits: { maxBodyBytes: 1024 * 1024 },
    security: { jwt: testIssuerOptions({ jwksUri: jwks.uri }) },
    routes: [
      { path: '/public', upstream: up.url, auth: 'none' },
      { path: '/api', upstream: up.url, auth: 'jwt' },
    ],
  });
});

after(async () => {
  await t.close();
  await up.close();
  await jwks.close();
});

/** A raw connection to the gateway that records what it receives and whether the gateway closed it. */
class Conversation {
  private readonly socket: Socket;
  text = '';
  closed = false;
  private readonly waiters: (() => void)[] = [];

  constructor() {
    this.socket = connect(Number(new URL(t.gw.url).port), '127.0.0.1');
    this.socket.setEncoding('latin1');
    this.socket.on('data', (d: string) => {
      this.text += d;
      this.wake();
    });
    // The gateway may close while the client is still writing: that is what some tests expect.
    this.socket.on('error', () => {});
    this.socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
  }

  send(data: string | Buffer): void {
    this.socket.write(data);
  }

  /** Resolves once `done` holds; the test's timeout catches a gateway that never gets there. */
  async until(done: () => boolean): Promise<void> {
    while (!done()) await new Promise<void>((r) => this.waiters.push(r));
  }

  /** Resolves once a complete response with a Content-Length body has arrived after `from`. */
  async response(from = 0): Promise<ReturnType<typeof parseRawResponse>> {
    await this.until(() => {
      const rest = this.text.slice(from);
      const head = rest.indexOf('\r\n\r\n');
      if (head < 0) return this.closed;
      const length = Number(/content-length: (\d+)/i.exec(rest.slice(0, head))?.[1] ?? 0);
      return rest.length >= head + 4 + length || this.closed;
    });
    return parseRawResponse(this.text.slice(from));
  }

  end(): void {
    this.socket.destroy();
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}

function head(method: string, path: string, headers: string[]): string {
  return [`${method} ${path} HTTP/1.1`, 'Host: gateway.test', ...headers, '', ''].join('\r\n');
}

const code = (res: { body: string }) => (JSON.parse(res.body) as { code: string }).code;

test('Expect: 100-continue on a refused request: no 100, a 401, the connection closed, the body never sent', async () => {
  const before = up.received.length;
  const c = new Conversation();
  c.send(head('POST', '/api/orders', ['Expect: 100-continue', 'Content-Length: 5']));
  const res = await c.response();
  assert.equal(res.status, 401, c.text);
  assert.equal(code(res), 'GH_TOKEN_MISSING');
  assert.ok(!c.text.includes('100 Continue'), 'the body was not asked for');
  assert.equal(res.headers.connection, 'close');
  await c.until(() => c.closed);
  assert.equal(up.received.length, before, 'nothing reached the upstream');
});

test('Expect: 100-continue on an admitted request: 100 after authentication, then the body is forwarded', async () => {
  const c = new Conversation();
  c.send(head('POST', '/api/orders', ['Expect: 100-continue', 'Content-Length: 5', `Authorization: Bearer ${mintToken(key, { iss: 'https://issuer.test', aud: 'api' })}`]));
  await c.until(() => c.text.includes('\r\n\r\n'));
  assert.match(c.text, /^HTTP\/1\.1 100 Continue\r\n\r\n$/);
  c.send('hello');
  const res = await c.response(c.text.length);
  assert.equal(res.status, 200, c.text);
  const got = JSON.parse(res.body) as EchoRecord;
  assert.equal(got.body, 'hello');
  assert.equal(got.headers.expect, undefined);
  c.end();
});

test('a chunked body on a refused request: 401 and the connection closed (no drain without a bound)', async () => {
  const c = new Conversation();
  c.send(head('POST', '/api/orders', ['Transfer-Encoding: chunked']));
  c.send('5\r\nhello\r\n');
  const res = await c.response();
  assert.equal(res.status, 401, c.text);
  assert.equal(res.headers.connection, 'close');
  await c.until(() => c.closed);
});

test('a request pipelined behind a refusal that closes the connection is not processed: nothing reaches the upstream', async () => {
  const before = up.received.length;
  const c = new Conversation();
  c.send(
    head('POST', '/api/orders', ['Transfer-Encoding: chunked']) +
      '3\r\nabc\r\n0\r\n\r\n' +
      head('DELETE', '/public/account/42', []) +
      head('GET', '/public/next', []),
  );
  await c.until(() => c.closed);
  const res = parseRawResponse(c.text);
  assert.equal(res.status, 401, c.text);
  assert.equal(res.headers.connection, 'close');
  assert.equal(c.text.split('HTTP/1.1 ').length - 1, 1, `one answer only: ${c.text}`);
  assert.deepEqual(up.received.slice(before).map((r) => `${r.method} ${r.path}`), [], 'the pipelined requests never ran');
  // A fresh connection is served as usual.
  const next = new Conversation();
  next.send(head('GET', '/public/after', ['Connection: close']));
  assert.equal((await next.response()).status, 200);
});

test('a transfer coding besides chunked (gzip, chunked): 501 GH_CODING_NOT_IMPLEMENTED, the connection closed, nothing forwarded', async () => {
  const before = up.received.length;
  const c = new Conversation();
  c.send(head('POST', '/public/upload', ['Transfer-Encoding: gzip, chunked']));
  c.send('5\r\nhello\r\n0\r\n\r\n');
  const res = await c.response();
  assert.equal(res.status, 501, c.text);
  assert.equal(code(res), 'GH_CODING_NOT_IMPLEMENTED');
  assert.equal(res.headers.connection, 'close');
  await c.until(() => c.closed);
  assert.equal(up.received.length, before, 'nothing reached the upstream');
  // Chunked alone, in any case, is forwarded.
  const ok = new Conversation();
  ok.send(head('POST', '/public/upload', ['Transfer-Encoding: Chunked', 'Connection: close']));
  ok.send('5\r\nhello\r\n0\r\n\r\n');
  const forwarded = await ok.response();
  assert.equal(forwarded.status, 200, ok.text);
  assert.equal((JSON.parse(forwarded.body) as EchoRecord).body, 'hello');
});

test('a declared body over 64 KiB on a refused request: 401 and the connection closed', async () => {
  const c = new Conversation();
  c.send(head('POST', '/api/orders', [`Content-Length: ${200 * 1024}`, 'Authorization: Bearer not-a-token']));
  c.send(Buffer.alloc(16 * 1024, 0x61));
  const res = await c.response();
  assert.equal(res.status, 401, c.text);
  assert.equal(res.headers.connection, 'close');
  await c.until(() => c.closed);
});

test('a small body on a refused request is drained: the connection stays open and serves the next request', async () => {
  const c = new Conversation();
  c.send(head('POST', '/api/orders', ['Content-Length: 11']) + 'hello world');
  const first = await c.response();
  assert.equal(first.status, 401, c.text);
  assert.notEqual(first.headers.connection, 'close');
  const from = c.text.length;
  c.send(head('GET', '/public/next', []));
  const second = await c.response(from);
  assert.equal(second.status, 200, c.text.slice(from));
  assert.equal((JSON.parse(second.body) as EchoRecord).path, '/public/next', 'the body was not parsed as a request');
  c.end();
});
