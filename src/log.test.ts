import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLogger, createLogThrottle, redactTokenLike } from './log.js';

// Realistic secrets: a compact JWT, an opaque token and cookie values.
const JWT =
  'eyJhbGciOiJFUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJhbGljZSIsInNjb3BlIjoib3JkZXJzOnJlYWQifQ.c2lnbmF0dXJlLW9mLXRoZS10b2tlbi1mb3ItdGVzdGluZw';
const OPAQUE = 'x7Gq2VbN9mKp4TzR8wYs3LdF6hJc1XeA0uQi5oPn';
const SESSION = 'sid=s3ss10n-v4lue-AAAA';
const SET_COOKIE = '__Host-gh=c00k1e-v4lue-BBBB; Path=/; HttpOnly; Secure';

function capture(level: 'info' | 'debug' = 'info') {
  const lines: string[] = [];
  const logger = createLogger(level, { write: (chunk: string) => void lines.push(chunk) });
  return { logger, output: () => lines.join(''), records: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

test('Authorization, Cookie and Set-Cookie headers are redacted from request and response logs', () => {
  const { logger, output, records } = capture();
  logger.info(
    {
      req: {
        method: 'GET',
        url: '/api/orders',
        headers: { authorization: `Bearer ${JWT}`, cookie: SESSION, 'proxy-authorization': `Basic ${OPAQUE}`, host: 'api.local' },
      },
      res: { statusCode: 200, headers: { 'set-cookie': [SET_COOKIE], 'content-type': 'application/json' } },
    },
    'request',
  );
  logger.warn({ headers: { authorization: `Bearer ${OPAQUE}`, cookie: SESSION } }, 'upstream call');
  const text = output();
  for (const secret of [JWT, OPAQUE, 's3ss10n-v4lue-AAAA', 'c00k1e-v4lue-BBBB']) {
    assert.ok(!text.includes(secret), `log output contains a secret: ${secret.slice(0, 12)}…`);
  }
  const [req, upstream] = records() as [
    { req: { headers: Record<string, string> }; res: { headers: Record<string, unknown> } },
    { headers: Record<string, string> },
  ];
  assert.equal(req.req.headers.authorization, '[redacted]');
  assert.equal(req.req.headers.cookie, '[redacted]');
  assert.equal(req.req.headers['proxy-authorization'], '[redacted]');
  assert.equal(req.res.headers['set-cookie'], '[redacted]');
  // Only the secrets go; the rest of the line stays useful.
  assert.equal(req.req.headers.host, 'api.local');
  assert.equal(req.res.headers['content-type'], 'application/json');
  assert.equal(upstream.headers.authorization, '[redacted]');
  assert.equal(upstream.headers.cookie, '[redacted]');
});

test('token, secret and password fields are redacted wherever they sit one level down', () => {
  const { logger, output, records } = capture();
  logger.info({
    grant: { token: JWT, accessToken: JWT, refreshToken: OPAQUE, access_token: JWT, refresh_token: OPAQUE, id_token: JWT },
    client: { client_id: 'web', client_secret: OPAQUE, secret: OPAQUE },
    login: { user: 'alice', password: 'hunter2-correct-horse' },
  });
  const text = output();
  for (const secret of [JWT, OPAQUE, 'hunter2-correct-horse']) assert.ok(!text.includes(secret), secret.slice(0, 12));
  const [rec] = records() as [{ client: { client_id: string }; login: { user: string } }];
  assert.equal(rec.client.client_id, 'web');
  assert.equal(rec.login.user, 'alice');
});

test('token-like values in free text (messages, URLs) are masked by redactTokenLike', () => {
  const { logger, output } = capture();
  const url = `/callback?code=abc&access_token=${JWT}`;
  logger.info({ url: redactTokenLike(url) }, redactTokenLike(`rejected token ${JWT} and ${OPAQUE}`));
  const text = output();
  assert.ok(!text.includes(JWT) && !text.includes(OPAQUE), 'a token survived');
  assert.match(text, /"url":"\/callback\?code=abc&access_token=\[redacted\]"/);
  assert.match(text, /"msg":"rejected token \[redacted\] and \[redacted\]"/);
});

test('redactTokenLike masks tokens inside long runs of token characters, and handles runs that are not tokens (linear, no backtracking)', () => {
  const jwt = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl';
  assert.equal(redactTokenLike(`/cb/${jwt}?x=1`), '/cb/[redacted]?x=1');
  assert.equal(redactTokenLike(`/a/x.${jwt}.y/b`), '/a/[redacted]/b');
  // What made the old pattern backtrack quadratically (8 KB of this held the event loop 100 ms).
  const dashes = `/eyJ-----.${'-'.repeat(8100)}`;
  assert.equal(redactTokenLike(dashes), '/[redacted]');
  assert.equal(redactTokenLike(`/${'-'.repeat(39)}/${'.-'.repeat(4000)}`), `/${'-'.repeat(39)}/${'.-'.repeat(4000)}`);
  assert.equal(redactTokenLike(`/${'a'.repeat(40)}`), '/[redacted]');
});

test('redactTokenLike leaves ordinary text alone', () => {
  for (const text of ['GET /api/orders/42 200', 'kid k1 not found for issuer https://auth.example.com', 'orders:read orders:write']) {
    assert.equal(redactTokenLike(text), text);
  }
  assert.equal(redactTokenLike(`Bearer ${JWT}`), 'Bearer [redacted]');
});

test('the level filters lines and each line is one JSON object with an ISO time', () => {
  const { logger, records } = capture('info');
  logger.debug('hidden');
  logger.info({ route: '/api' }, 'shown');
  const recs = records();
  assert.equal(recs.length, 1);
  assert.equal(recs[0]?.level, 'info');
  assert.equal(recs[0]?.msg, 'shown');
  assert.match(String(recs[0]?.time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
});

test('credential fields are redacted at the top level and nested', () => {
  const lines: string[] = [];
  const logger = createLogger('info', { write: (s: string) => void lines.push(s) });
  logger.info({ token: 'tok-top-secret', err: { request: { headers: { authorization: 'Bearer tok-deep-secret' } } }, a: { b: { c: { password: 'pw-secret' } } } }, 'x');
  const out = lines.join('');
  for (const secret of ['tok-top-secret', 'tok-deep-secret', 'pw-secret']) assert.ok(!out.includes(secret), `${secret} leaked`);
  assert.match(out, /\[redacted\]/);
});

test('header fields are redacted at the top level too, hyphenated or not, and in their capitalised spelling', () => {
  const { output, logger, records } = capture();
  logger.info({ 'set-cookie': SET_COOKIE, 'proxy-authorization': `Basic ${OPAQUE}`, Authorization: `Bearer ${JWT}`, Cookie: SESSION }, 'top');
  logger.info(
    {
      req: { headers: { Authorization: `Bearer ${JWT}`, 'Proxy-Authorization': `Basic ${OPAQUE}`, Cookie: SESSION, Host: 'api.local' } },
      res: { headers: { 'Set-Cookie': [SET_COOKIE] } },
      err: { request: { headers: { Authorization: `Bearer ${JWT}` } } },
    },
    'nested',
  );
  const text = output();
  for (const secret of [JWT, OPAQUE, SESSION, SET_COOKIE]) assert.ok(!text.includes(secret), `${secret.slice(0, 12)} leaked`);
  const [top, nested] = records() as [Record<string, unknown>, { req: { headers: Record<string, string> } }];
  assert.equal(top['set-cookie'], '[redacted]');
  assert.equal(top['proxy-authorization'], '[redacted]');
  assert.equal(nested.req.headers.Host, 'api.local', 'the rest stays');
});

test('an error\'s message and stack, its causes\' included, have token-like runs masked', () => {
  const { logger, output, records } = capture();
  logger.warn({ err: new Error('fetch failed', { cause: new Error(`GET https://idp.test/cb?access_token=${JWT} refused: ${OPAQUE}`) }) }, 'upstream failed');
  const text = output();
  assert.ok(!text.includes(JWT) && !text.includes(OPAQUE), 'a token survived');
  const [rec] = records() as [{ err: { message: string; stack: string; type: string } }];
  assert.match(rec.err.message, /^fetch failed: GET https:\/\/idp\.test\/cb\?access_token=\[redacted\] refused: \[redacted\]$/);
  assert.match(rec.err.stack, /caused by: Error: GET/);
  assert.equal(rec.err.type, 'Error');
});

test('createLogThrottle lets a key through once per interval, each key on its own, and forgets the oldest beyond its bound', () => {
  let now = 1_000;
  const may = createLogThrottle(10_000, () => now, 2);
  assert.equal(may('a'), true);
  assert.equal(may('a'), false);
  assert.equal(may('b'), true, 'another key has its own interval');
  now += 9_999;
  assert.equal(may('a'), false);
  now += 1;
  assert.equal(may('a'), true, 'again once the interval has passed');
  assert.equal(may('c'), true);
  // Bounded to two keys: 'b' (the oldest) was forgotten to make room for 'c'.
  assert.equal(may('b'), true);
});
