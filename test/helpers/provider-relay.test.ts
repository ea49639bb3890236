import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startProviderRelay } from './provider-relay.js';

/** A stand-in provider: answers each request with a JSON echo of what it got; counts them. */
async function startTarget(t: { after(fn: () => Promise<void>): void }) {
  let seen = 0;
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c));
    req.on('end', () => {
      seen++;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ path: req.url, body, scope: 'openid' }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, seen: () => seen };
}

const grant = (url: string, grantType: string, signal?: AbortSignal) =>
  fetch(`${url}/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ grant_type: grantType }), signal });

test('forwards, counts by grant type, rewrites JSON answers and answers by itself without forwarding', async (t) => {
  const target = await startTarget(t);
  const relay = await startProviderRelay(target.url);
  t.after(() => relay.close());
  assert.equal(((await (await grant(relay.url, 'refresh_token')).json()) as { body: string }).body, 'grant_type=refresh_token');
  const rewrite = relay.when('authorization_code', { do: 'rewrite', rewrite: ({ scope: _s, ...rest }) => rest });
  assert.equal('scope' in ((await (await grant(relay.url, 'authorization_code')).json()) as object), false);
  rewrite.release();
  relay.when('client_credentials', { do: 'answer', status: 502, contentType: 'text/html', body: '<html>bad gateway</html>' });
  const proxyError = await grant(relay.url, 'client_credentials');
  assert.deepEqual([proxyError.status, proxyError.headers.get('content-type'), await proxyError.text()], [502, 'text/html', '<html>bad gateway</html>']);
  assert.equal(target.seen(), 2, 'the relay\'s own answer never reached the provider');
  assert.deepEqual([relay.count('refresh_token'), relay.count('authorization_code'), relay.count('client_credentials')], [1, 1, 1]);
  assert.deepEqual(relay.answers('authorization_code'), [{ path: '/token', body: 'grant_type=authorization_code' }]);
});

test('a reset and a refused connection are real socket failures; admit() serves again', async (t) => {
  const target = await startTarget(t);
  const relay = await startProviderRelay(target.url);
  t.after(() => relay.close());
  const reset = relay.when('refresh_token', { do: 'reset' });
  await assert.rejects(grant(relay.url, 'refresh_token'), (err: Error & { cause?: { code?: string } }) => err instanceof TypeError && err.cause?.code === 'ECONNRESET');
  reset.release();
  await relay.refuse();
  await assert.rejects(grant(relay.url, 'refresh_token'), (err: Error & { cause?: { code?: string } }) => err.cause?.code === 'ECONNREFUSED');
  await relay.admit();
  assert.equal((await grant(relay.url, 'refresh_token')).status, 200);
});

test('hold-request keeps the request from the provider until released; hold-answer keeps the handled answer; a client that leaves is recorded', async (t) => {
  const target = await startTarget(t);
  const relay = await startProviderRelay(target.url);
  t.after(() => relay.close());
  const hang = relay.when('refresh_token', { do: 'hold-request' });
  const held = grant(relay.url, 'refresh_token');
  await sleep(100);
  assert.equal(target.seen(), 0, 'not forwarded while held');
  hang.release();
  assert.equal((await held).status, 200);
  assert.equal(target.seen(), 1);

  relay.when('authorization_code', { do: 'hold-answer' });
  await assert.rejects(grant(relay.url, 'authorization_code', AbortSignal.timeout(200)), { name: 'TimeoutError' });
  await relay.settled();
  assert.equal(target.seen(), 2, 'the provider handled it');
  assert.deepEqual(relay.exchanges().map((e) => [e.grantType, e.outcome]), [['refresh_token', 'forwarded'], ['authorization_code', 'abandoned']]);
});
