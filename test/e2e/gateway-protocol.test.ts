import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { call, rawRequest, startTestGateway, type RawResponse, type TestGateway } from '../helpers/gateway.js';
import { startEchoUpstream, type EchoRecord, type EchoUpstream } from '../helpers/upstream.js';

// HTTP/1.1 framing and request-target rules at the gateway's edge: what Node's parser
// refuses, what RFC 9112 makes a 400, and requests a reverse proxy must not serve.
// Each refusal is problem+json with its code, reaches no upstream, and leaves the gateway serving.

let up: EchoUpstream;
let t: TestGateway;

before(async () => {
  up = await startEchoUpstream();
  t = await startTestGateway({ routes: [{ path: '/', upstream: up.url, auth: 'none' }] });
});

after(async () => {
  await t.close();
  await up.close();
});

function lines(...parts: string[]): string {
  return [...parts, '', ''].join('\r\n');
}

function code(res: RawResponse): string {
  assert.equal(res.headers['content-type'], 'application/problem+json', res.raw.slice(0, 300));
  return (JSON.parse(res.body) as { code: string }).code;
}

/** Sends `text` and checks the refusal: status, code, a detail matching `detail`, and nothing proxied. */
async function assertRefused(text: string, status: number, errorCode: string, detail: RegExp): Promise<RawResponse> {
  const before = up.received.length;
  const res = await rawRequest(t.gw.url, text);
  assert.equal(res.status, status, res.raw.slice(0, 300));
  assert.equal(code(res), errorCode);
  assert.match((JSON.parse(res.body) as { detail: string }).detail, detail);
  assert.equal(up.received.length, before, 'nothing reached the upstream');
  return res;
}

test('Content-Length together with Transfer-Encoding (a smuggling vector): 400 GH_BAD_REQUEST, connection closed', async () => {
  const res = await assertRefused(
    lines('POST /x HTTP/1.1', 'Host: gateway.test', 'Content-Length: 5', 'Transfer-Encoding: chunked', '', '0', '', 'GET /smuggled HTTP/1.1', 'Host: gateway.test'),
    400,
    'GH_BAD_REQUEST',
    /could not be parsed/,
  );
  assert.equal(res.headers.connection, 'close');
  assert.ok(!up.received.some((r) => r.path === '/smuggled'), 'the smuggled request was never parsed');
});

test('a request line that is not HTTP: 400 GH_BAD_REQUEST', async () => {
  await assertRefused(lines('HELLO THERE', 'Host: gateway.test'), 400, 'GH_BAD_REQUEST', /could not be parsed/);
});

test('HTTP/1.1 without Host: 400 GH_BAD_REQUEST as problem+json (not Node\'s empty 400)', async () => {
  await assertRefused(lines('GET /x HTTP/1.1', 'Connection: close'), 400, 'GH_BAD_REQUEST', /Host header is missing/);
});

test('more than one Host header, in any spelling: 400 GH_BAD_REQUEST (Node would keep the first and route by it)', async () => {
  await assertRefused(lines('GET /x HTTP/1.1', 'Host: gateway.test', 'Host: other.test', 'Connection: close'), 400, 'GH_BAD_REQUEST', /more than one Host/);
  await assertRefused(lines('GET /x HTTP/1.1', 'host: gateway.test', 'HOST: gateway.test', 'Connection: close'), 400, 'GH_BAD_REQUEST', /more than one Host/);
});

test('a Host that is not a host name (a slash, userinfo, a space, a list, an escape, empty labels): 400 GH_BAD_REQUEST; names, IP literals and ports pass', async () => {
  const refused = ['evil.test/x', 'user@gateway.test', 'gateway.test evil', 'gateway.test:80:80', '[::1'];
  // Upstreams read these as a name the router never matched: Express takes the first of a list, Rails the last.
  refused.push('admin.example.com,', 'www.example.com,admin.example.com', 'admin%2eexample.com', 'admin.example.com..', '.admin.example.com', "a'b.example");
  for (const host of refused) {
    await assertRefused(lines('GET /x HTTP/1.1', `Host: ${host}`, 'Connection: close'), 400, 'GH_BAD_REQUEST', /not a host name/);
  }
  for (const host of ['gateway.test', 'Gateway.Test:8080', '127.0.0.1', '[::1]:8080', 'xn--bcher-kva.example', 'gateway.test.']) {
    const res = await rawRequest(t.gw.url, lines('GET /host-ok HTTP/1.1', `Host: ${host}`, 'Connection: close'));
    assert.equal(res.status, 200, `${host}: ${res.raw.slice(0, 200)}`);
    assert.equal((JSON.parse(res.body) as EchoRecord).headers['x-forwarded-host'], host);
  }
});

test('HTTP/1.0 may omit Host: forwarded', async () => {
  const res = await rawRequest(t.gw.url, lines('GET /old-client HTTP/1.0'));
  assert.equal(res.status, 200, res.raw.slice(0, 300));
  assert.equal((JSON.parse(res.body) as EchoRecord).path, '/old-client');
});

test('CONNECT: 501 GH_METHOD_NOT_IMPLEMENTED and the connection closes (no tunnel is opened)', async () => {
  const res = await assertRefused(lines('CONNECT upstream.test:443 HTTP/1.1', 'Host: upstream.test:443'), 501, 'GH_METHOD_NOT_IMPLEMENTED', /not a forward proxy/);
  assert.equal(res.headers.connection, 'close');
});

test('absolute-form and asterisk-form targets: 400 GH_PATH_REJECTED', async () => {
  await assertRefused(lines('GET http://other.test/x HTTP/1.1', 'Host: gateway.test', 'Connection: close'), 400, 'GH_PATH_REJECTED', /absolute path/);
  await assertRefused(lines('OPTIONS * HTTP/1.1', 'Host: gateway.test', 'Connection: close'), 400, 'GH_PATH_REJECTED', /absolute path/);
});

test('an Upgrade request is forwarded as an ordinary request: no Upgrade or Connection upstream, no 101', async () => {
  const res = await rawRequest(
    t.gw.url,
    lines('GET /ws HTTP/1.1', 'Host: gateway.test', 'Connection: Upgrade, close', 'Upgrade: websocket', 'Sec-WebSocket-Version: 13', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=='),
  );
  assert.equal(res.status, 200, res.raw.slice(0, 300));
  const got = JSON.parse(res.body) as EchoRecord;
  assert.equal(got.path, '/ws');
  assert.equal(got.headers.upgrade, undefined);
  assert.notEqual(got.headers.connection?.toLowerCase(), 'upgrade');
});

test('still serving after every refusal above', async () => {
  const res = await call(`${t.gw.url}/after`);
  assert.equal(res.status, 200);
  assert.equal(res.json<EchoRecord>().path, '/after');
});
