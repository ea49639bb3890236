import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes, X509Certificate } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { connect as tlsConnect } from 'node:tls';
import { Agent, request } from 'undici';
import { validateConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors.js';
import { CookieJar, loginWithForm, startTestAuthService, TEST_API } from '../helpers/auth-service.js';
import { call, parseRawResponse, rawRequest, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { freePort } from '../helpers/ports.js';
import { closesWithin, openConnection } from '../helpers/raw-connection.js';
import { startEchoUpstream, type EchoRecord, type EchoUpstream } from '../helpers/upstream.js';

let dir: string;
let ca: string;
let up: EchoUpstream;
let t: TestGateway;
let agent: Agent;

/** Writes a fresh self-signed certificate for localhost and 127.0.0.1, and its key, into `dir`. */
function makeSelfSigned(dir: string, cert: string, key: string): void {
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', join(dir, key), '-out', join(dir, cert), '-days', '1',
    '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
  ], { stdio: 'ignore' });
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-tls-'));
  // A fresh self-signed certificate per run; the test client trusts exactly it.
  makeSelfSigned(dir, 'cert.pem', 'key.pem');
  ca = readFileSync(join(dir, 'cert.pem'), 'utf8');
  agent = new Agent({ connect: { ca } });
  up = await startEchoUpstream();
  t = await startTestGateway(
    {
      listen: { host: '127.0.0.1', port: 0, tls: { cert: 'cert.pem', key: 'key.pem', redirectPort: 0, hstsMaxAge: 600 } },
      routes: [{ path: '/', upstream: up.url, auth: 'none' }, { path: '/api', upstream: up.url, auth: 'jwt' }],
      security: { jwt: { issuer: 'https://issuer.test', audience: 'api', publicKey: 'cert.pem', algorithms: ['ES256'] } },
    },
    { baseDir: dir },
  );
});

after(async () => {
  await t.close();
  await up.close();
  await agent.close();
  rmSync(dir, { recursive: true, force: true });
});

test('HTTPS with the configured certificate, HSTS on every response, X-Forwarded-Proto https', async () => {
  assert.match(t.gw.url, /^https:\/\/127\.0\.0\.1:\d+$/);
  const res = await request(`${t.gw.url}/hello`, { dispatcher: agent });
  assert.equal(res.statusCode, 200);
  assert.equal(res.headers['strict-transport-security'], 'max-age=600');
  const got = (await res.body.json()) as EchoRecord;
  assert.equal(got.headers['x-forwarded-proto'], 'https');
  const denied = await request(`${t.gw.url}/api/x`, { dispatcher: agent });
  assert.equal(denied.statusCode, 401);
  assert.equal(denied.headers['strict-transport-security'], 'max-age=600');
  await denied.body.dump();
  // An upstream's own HSTS (here max-age=0) never reaches the browser: only the gateway's counts.
  up.setMode('cookies');
  try {
    const relayed = await request(`${t.gw.url}/hello`, { dispatcher: agent });
    assert.equal(relayed.headers['strict-transport-security'], 'max-age=600');
    await relayed.body.dump();
  } finally {
    up.setMode('echo');
  }
});

test('the plain listener only redirects to HTTPS (308, path and query kept)', async () => {
  assert.ok(t.gw.redirectUrl);
  const res = await call(`${t.gw.redirectUrl}/a/b?c=d`, { method: 'POST', body: 'x' });
  assert.equal(res.status, 308);
  assert.equal(res.headers.location, `${t.gw.url}/a/b?c=d`);
  assert.equal(up.received.filter((r) => r.path === '/a/b').length, 0, 'nothing was proxied over plain HTTP');
});

test('the redirect listener\'s answers are requests no route took: counted under (none) and logged, the query left out', async () => {
  const counted = async (status: number): Promise<number> => {
    const m = new RegExp(`^gatehouse_requests_total\\{route="\\(none\\)",status="${status}"\\} (\\d+)$`, 'm').exec(await t.metrics.registry.metrics());
    return m ? Number(m[1]) : 0;
  };
  const before = t.requestLogs().length;
  const [redirects, tooLong, unparsed] = [await counted(308), await counted(414), await counted(400)];
  const redirectUrl = t.gw.redirectUrl as string;
  assert.equal((await call(`${redirectUrl}/logged/./path?secret=1`)).status, 308);
  assert.equal((await rawRequest(redirectUrl, ['GET /' + 'a'.repeat(8200) + ' HTTP/1.1', 'Host: localhost', 'Connection: close', '', ''].join('\r\n'))).status, 414);
  assert.equal((await rawRequest(redirectUrl, 'GET /x HTTP/1.1\r\nHost: localhost\r\nBad Header\r\n\r\n')).status, 400);
  const lines = t.requestLogs().slice(before);
  assert.deepEqual(lines.map((l) => [l.method, l.path, l.status]), [
    ['GET', '/logged/path', 308],
    ['GET', '(rejected)', 414],
    [undefined, '(unparsed)', 400],
  ]);
  assert.doesNotMatch(t.logText(), /secret=1/);
  assert.deepEqual([await counted(308), await counted(414), await counted(400)], [redirects + 1, tooLong + 1, unparsed + 1]);
});

test('a hostile Host header is not echoed into the redirect', async () => {
  // Not a host name: refused like at the gateway (RFC 3986 would allow the second, a reg-name with sub-delims).
  for (const host of ['evil.test/@attacker', 'evil.test;x=%2f']) {
    const refused = await call(`${t.gw.redirectUrl}/x`, { headers: { host } });
    assert.equal(refused.status, 400, host);
    assert.equal(refused.headers.location, undefined);
  }
  // A host name is echoed, with the HTTPS port in place of its own.
  const res = await call(`${t.gw.redirectUrl}/x`, { headers: { host: 'gateway.test:8080' } });
  assert.equal(res.status, 308);
  assert.match(String(res.headers.location), /^https:\/\/gateway\.test:\d+\/x$/);
  assert.doesNotMatch(String(res.headers.location), /:8080\//);
});

test('the redirect is not cacheable by a shared cache (its Location follows the Host), and a target over maxUrlLength is 414 there, not redirected', async () => {
  const res = await call(`${t.gw.redirectUrl}/x`);
  assert.equal(res.status, 308);
  assert.equal(res.headers['cache-control'], 'no-store');
  const long = await rawRequest(t.gw.redirectUrl as string, ['GET /' + 'a'.repeat(8200) + ' HTTP/1.1', 'Host: localhost', 'Connection: close', '', ''].join('\r\n'));
  assert.equal(long.status, 414, long.raw.slice(0, 200));
  assert.equal(JSON.parse(long.body).code, 'GH_URI_TOO_LONG');
  assert.equal(long.headers.location, undefined);
});

test('a reload that changes limits.maxUrlLength applies on the redirect listener too', async () => {
  const raw = {
    listen: { host: '127.0.0.1', port: 0, tls: { cert: 'cert.pem', key: 'key.pem', redirectPort: 0 } },
    admin: { enabled: false },
    routes: [{ path: '/', upstream: up.url, auth: 'none' }],
  };
  const g = await startTestGateway(raw, { baseDir: dir });
  try {
    const target = '/' + 'a'.repeat(200);
    const get = () => rawRequest(g.gw.redirectUrl as string, [`GET ${target} HTTP/1.1`, 'Host: localhost', 'Connection: close', '', ''].join('\r\n'));
    assert.equal((await get()).status, 308);
    await g.gw.reload(validateConfig({ ...raw, limits: { maxUrlLength: 100 } }));
    const long = await get();
    assert.equal(long.status, 414, 'the HTTPS listener would refuse it now: no redirect to a 414');
    assert.equal(long.headers.location, undefined);
  } finally {
    await g.close();
  }
});

test('an Expect other than 100-continue: 417 GH_EXPECTATION_FAILED as problem+json with HSTS (not Node\'s bare answer); on the redirect listener too', async () => {
  // undici refuses to send Expect: a raw TLS connection.
  const socket = tlsConnect({ host: '127.0.0.1', port: Number(new URL(t.gw.url).port), ca, servername: 'localhost' });
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  const ended = new Promise<void>((r) => socket.once('close', () => r()));
  socket.write(['POST /x HTTP/1.1', 'Host: localhost', 'Expect: foo', 'Content-Length: 0', '', ''].join('\r\n'));
  await ended;
  const res = parseRawResponse(Buffer.concat(chunks).toString('latin1'));
  assert.equal(res.status, 417, res.raw.slice(0, 200));
  assert.equal(res.headers['content-type'], 'application/problem+json');
  assert.equal(res.headers['strict-transport-security'], 'max-age=600');
  assert.equal(res.headers.connection, 'close');
  assert.equal(JSON.parse(res.body).code, 'GH_EXPECTATION_FAILED');
  assert.equal(up.received.filter((r) => r.path === '/x').length, 0, 'not forwarded');
  const plain = await rawRequest(t.gw.redirectUrl as string, ['GET /x HTTP/1.1', 'Host: localhost', 'Expect: foo', 'Connection: close', '', ''].join('\r\n'));
  assert.equal(plain.status, 417, plain.raw.slice(0, 200));
  assert.equal(JSON.parse(plain.body).code, 'GH_EXPECTATION_FAILED');
});

test('the redirect listener refuses a request without exactly one Host header (400), as the gateway does', async () => {
  const redirectUrl = t.gw.redirectUrl as string;
  for (const hosts of [[], ['Host: localhost', 'Host: evil.test']]) {
    const res = await rawRequest(redirectUrl, ['GET /x HTTP/1.1', ...hosts, 'Connection: close', '', ''].join('\r\n'));
    assert.equal(res.status, 400, res.raw.slice(0, 200));
    assert.equal(JSON.parse(res.body).code, 'GH_BAD_REQUEST');
    assert.equal(res.headers.location, undefined);
  }
});

test('plain HTTP on a non-loopback address is refused without allowInsecureHttp', async () => {
  await assert.rejects(
    startTestGateway({ listen: { host: '0.0.0.0', port: 0 }, routes: [{ path: '/', upstream: up.url, auth: 'none' }] }),
    (err: unknown) => err instanceof ConfigError && /allowInsecureHttp/.test(err.message),
  );
});

test('an admin listener off loopback binds, and warns at start that it answers anyone; on loopback it does not', async () => {
  for (const [host, warns] of [['0.0.0.0', 1], ['127.0.0.1', 0]] as const) {
    const g = await startTestGateway({ admin: { enabled: true, host, port: 0 }, routes: [{ path: '/', upstream: up.url, auth: 'none' }] });
    try {
      const warn = g.logText().split('\n').filter((l) => l.includes('"level":"warn"') && l.includes('admin listener'));
      assert.equal(warn.length, warns, host);
      if (warns) assert.match(warn[0] as string, /non-loopback address: \/metrics and \/readyz answer anyone/);
      const port = new URL(g.gw.adminUrl as string).port;
      assert.equal((await call(`http://127.0.0.1:${port}/healthz`)).status, 200);
    } finally {
      await g.close();
    }
  }
});

test('with allowInsecureHttp it binds and warns at start', async () => {
  const g = await startTestGateway({
    listen: { host: '0.0.0.0', port: 0, allowInsecureHttp: true },
    routes: [{ path: '/', upstream: up.url, auth: 'none' }],
  });
  try {
    const warn = g.logText().split('\n').filter((l) => l.includes('"level":"warn"'));
    assert.equal(warn.length, 1);
    assert.match(warn[0] as string, /unencrypted/);
    const port = new URL(g.gw.url).port;
    assert.equal((await call(`http://127.0.0.1:${port}/x`)).status, 200);
  } finally {
    await g.close();
  }
});

/** The SHA-256 fingerprint of the certificate a new TLS connection to `url` is served. */
function servedCertificate(url: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: hostname, port: Number(port), servername: 'localhost', rejectUnauthorized: false }, () => {
      resolve(socket.getPeerCertificate().fingerprint256);
      socket.end();
    });
    socket.on('error', reject);
  });
}

/** A TLS session (ticket) of a new connection to `url`, once the server has sent one. */
function sessionTicket(url: string): Promise<Buffer> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: hostname, port: Number(port), servername: 'localhost', rejectUnauthorized: false });
    socket.once('session', (session: Buffer) => {
      resolve(session);
      socket.end();
    });
    socket.on('error', reject);
  });
}

/** Whether a new connection to `url` offering `session` resumes it (an abbreviated handshake). */
function resumes(url: string, session: Buffer): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: hostname, port: Number(port), servername: 'localhost', rejectUnauthorized: false, session }, () => {
      resolve(socket.isSessionReused());
      socket.end();
    });
    socket.on('error', reject);
  });
}

test('close cuts a connection still before its TLS handshake, and one that shook hands and sent half a request, and resolves', async () => {
  const g = await startTestGateway(
    {
      listen: { host: '127.0.0.1', port: 0, tls: { cert: 'cert.pem', key: 'key.pem', redirectPort: 0 } },
      shutdown: { drainTimeoutMs: 100 },
      routes: [{ path: '/', upstream: up.url, auth: 'none' }],
    },
    { baseDir: dir },
  );
  const port = Number(new URL(g.gw.url).port);
  // Sends nothing: Node's HTTP layer never sees it, and server.close() would wait out the handshake timeout (120 s).
  const silent = await openConnection(port);
  const redirectSilent = await openConnection(Number(new URL(g.gw.redirectUrl ?? '').port));
  const partial = tlsConnect({ host: '127.0.0.1', port, ca, servername: 'localhost' });
  const partialClosed = new Promise<void>((r) => partial.once('close', () => r()));
  partial.on('error', () => {});
  await new Promise<void>((r) => partial.once('secureConnect', () => r()));
  partial.write('GET /half HTTP/1.1\r\nHost: gateway.test\r\n');
  const closing = g.close();
  try {
    // Far beyond the cut at the drain timeout, far short of every handshake, header or request deadline.
    assert.equal(await closesWithin(silent, 5_000), 'closed', 'the server cut the connection that never began its handshake');
    assert.equal(await closesWithin(redirectSilent, 5_000), 'closed', 'and the silent one on the redirect listener');
    let timer: NodeJS.Timeout | undefined;
    const partialOutcome = await Promise.race([
      partialClosed.then(() => 'closed'),
      new Promise((r) => (timer = setTimeout(() => r('open'), 5_000))),
    ]).finally(() => clearTimeout(timer));
    assert.equal(partialOutcome, 'closed', 'the server cut the half-sent request');
  } finally {
    silent.socket.destroy();
    redirectSilent.socket.destroy();
    partial.destroy();
    await closing;
  }
});

test('a connection that never completes its TLS handshake is cut at requestTimeoutMs, not after two minutes, and frees its slot', async () => {
  const g = await startTestGateway(
    {
      listen: { host: '127.0.0.1', port: 0, tls: { cert: 'cert.pem', key: 'key.pem' } },
      limits: { requestTimeoutMs: 1000, maxConnections: 2 },
      routes: [{ path: '/', upstream: up.url, auth: 'none' }],
    },
    { baseDir: dir },
  );
  const port = Number(new URL(g.gw.url).port);
  const silent = await openConnection(port);
  const stalled = await openConnection(port);
  stalled.socket.write(Buffer.from([0x16, 0x03, 0x01])); // the first bytes of a ClientHello, then nothing
  try {
    // Well past the 1 s handshake limit, far short of Node's default 120 s.
    assert.equal(await closesWithin(silent, 8_000), 'closed', 'the silent connection was cut');
    assert.equal(await closesWithin(stalled, 8_000), 'closed', 'the stalled handshake was cut');
    const res = await request(`${g.gw.url}/after`, { dispatcher: agent });
    assert.equal(res.statusCode, 200, 'both slots of maxConnections are free again');
    await res.body.dump();
  } finally {
    silent.socket.destroy();
    stalled.socket.destroy();
    await g.close();
  }
});

test('a reload keeps TLS session resumption: a ticket issued before it resumes after it, with the same files and after a renewal', async () => {
  const tlsDir = mkdtempSync(join(tmpdir(), 'gatehouse-tls-tickets-'));
  makeSelfSigned(tlsDir, 'cert.pem', 'key.pem');
  makeSelfSigned(tlsDir, 'b-cert.pem', 'b-key.pem');
  const raw = {
    listen: { host: '127.0.0.1', port: 0, tls: { cert: 'cert.pem', key: 'key.pem' } },
    admin: { enabled: false },
    routes: [{ path: '/', upstream: up.url, auth: 'none' }],
  };
  const g = await startTestGateway(raw, { baseDir: tlsDir });
  try {
    const ticket = await sessionTicket(g.gw.url);
    assert.equal(await resumes(g.gw.url, ticket), true, 'resumes before any reload');
    await g.gw.reload(validateConfig(raw));
    assert.equal(await resumes(g.gw.url, ticket), true, 'resumes after a reload that left the files as they were');
    copyFileSync(join(tlsDir, 'b-cert.pem'), join(tlsDir, 'cert.pem'));
    copyFileSync(join(tlsDir, 'b-key.pem'), join(tlsDir, 'key.pem'));
    await g.gw.reload(validateConfig(raw));
    assert.equal(await resumes(g.gw.url, ticket), true, 'resumes after a renewal: the ticket keys are kept');
  } finally {
    await g.close();
    rmSync(tlsDir, { recursive: true, force: true });
  }
});

test('reload re-reads the TLS certificate and key: new connections get a renewed pair; a pair that does not load is refused and the last good one serves on', async () => {
  const tlsDir = mkdtempSync(join(tmpdir(), 'gatehouse-tls-reload-'));
  makeSelfSigned(tlsDir, 'a-cert.pem', 'a-key.pem');
  makeSelfSigned(tlsDir, 'b-cert.pem', 'b-key.pem');
  const pem = (name: string) => readFileSync(join(tlsDir, name), 'utf8');
  const fingerprint = (name: string) => new X509Certificate(pem(name)).fingerprint256;
  // The configured files are replaced in place, as a renewal (certbot, cert-manager) does.
  const install = (cert: string, key: string) => {
    copyFileSync(join(tlsDir, cert), join(tlsDir, 'cert.pem'));
    copyFileSync(join(tlsDir, key), join(tlsDir, 'key.pem'));
  };
  install('a-cert.pem', 'a-key.pem');
  const raw = {
    listen: { host: '127.0.0.1', port: 0, tls: { cert: 'cert.pem', key: 'key.pem' } },
    admin: { enabled: false },
    routes: [{ path: '/', upstream: up.url, auth: 'none' }],
  };
  const g = await startTestGateway(raw, { baseDir: tlsDir });
  const trustsB = new Agent({ connect: { ca: pem('b-cert.pem') } });
  try {
    assert.equal(await servedCertificate(g.gw.url), fingerprint('a-cert.pem'));

    install('b-cert.pem', 'b-key.pem');
    await g.gw.reload(validateConfig(raw));
    assert.equal(await servedCertificate(g.gw.url), fingerprint('b-cert.pem'), 'a new connection gets the renewed certificate');
    const res = await request(`${g.gw.url}/renewed`, { dispatcher: trustsB });
    assert.equal(res.statusCode, 200);
    await res.body.dump();

    // A certificate replaced without its key, then a key file caught half-written: both refused.
    install('a-cert.pem', 'b-key.pem');
    await assert.rejects(g.gw.reload(validateConfig(raw)), new RegExp(`TLS certificate ${join(tlsDir, 'cert.pem')} and key ${join(tlsDir, 'key.pem')} do not load`));
    copyFileSync(join(tlsDir, 'b-cert.pem'), join(tlsDir, 'cert.pem'));
    writeFileSync(join(tlsDir, 'key.pem'), pem('b-key.pem').slice(0, 60));
    await assert.rejects(g.gw.reload(validateConfig(raw)), /do not load/);
    assert.equal(await servedCertificate(g.gw.url), fingerprint('b-cert.pem'), 'the last good pair serves on');
    const still = await request(`${g.gw.url}/still`, { dispatcher: trustsB });
    assert.equal(still.statusCode, 200);
    await still.body.dump();
  } finally {
    await g.close();
    await trustsB.close();
    rmSync(tlsDir, { recursive: true, force: true });
  }
});

test('the /auth/* endpoints carry HSTS on every answer (redirects, JSON, 204, problems), and their 401s a Bearer challenge', async (t) => {
  const port = await freePort();
  const publicUrl = `https://127.0.0.1:${port}`;
  const client = { clientId: 'gateway-tls', clientSecret: randomBytes(24).toString('base64url') };
  const auth = await startTestAuthService({
    overrides: {
      clients: [{ ...client, redirectUris: [`${publicUrl}/auth/callback`], grantTypes: ['authorization_code', 'refresh_token'], scopes: ['openid', 'offline_access', 'api:read'], resources: [TEST_API], firstParty: true }],
    },
  });
  t.after(() => auth.close());
  const g = await startTestGateway(
    {
      listen: { host: '127.0.0.1', port, tls: { cert: 'cert.pem', key: 'key.pem', hstsMaxAge: 600 } },
      routes: [{ path: '/app', upstream: up.url, auth: 'session' }],
      sessions: {
        mode: 'stateful',
        publicUrl,
        provider: { ...client, issuer: auth.issuer, scopes: 'openid offline_access api:read', resource: TEST_API },
        keys: [{ id: 'k1', secret: randomBytes(32).toString('base64url') }],
      },
    },
    { baseDir: dir },
  );
  t.after(() => g.close());
  const jar = new CookieJar();
  const send = async (method: string, path: string, headers: Record<string, string> = {}) => {
    const res = await request(`${publicUrl}${path}`, { method: method as 'GET', headers: { cookie: jar.header(), ...headers }, dispatcher: agent });
    const body = await res.body.text();
    const setCookie = res.headers['set-cookie'];
    jar.store(new Response(null, { headers: (Array.isArray(setCookie) ? setCookie : setCookie ? [setCookie] : []).map((c): [string, string] => ['set-cookie', c]) }));
    assert.equal(res.headers['strict-transport-security'], 'max-age=600', `${method} ${path} → ${res.statusCode}`);
    return { status: res.statusCode, headers: res.headers, body };
  };
  const origin = { origin: publicUrl };

  for (const [method, path, headers] of [['GET', '/auth/sessions', {}], ['POST', '/auth/refresh', origin]] as const) {
    const missing = await send(method, path, headers);
    assert.equal(missing.status, 401, missing.body);
    assert.equal(missing.headers['www-authenticate'], 'Bearer realm="gatehouse"', `${method} ${path}`);
  }
  assert.equal((await send('POST', '/auth/logout')).status, 403, 'no Origin: a CSRF refusal, with HSTS too');
  assert.equal((await send('GET', '/auth/nope')).status, 404);

  const start = await send('GET', '/auth/login?return_to=/app/x');
  assert.equal(start.status, 302, start.body);
  const callback = await loginWithForm(String(start.headers.location), { username: auth.user.username, password: auth.user.password, redirectUri: `${publicUrl}/auth/callback` });
  const done = await send('GET', `${callback.pathname}${callback.search}`);
  assert.equal(done.status, 302, done.body);
  assert.equal(done.headers.location, '/app/x');
  assert.equal((await send('POST', '/auth/refresh', origin)).status, 200);
  const list = await send('GET', '/auth/sessions');
  assert.equal(list.status, 200);
  const own = (JSON.parse(list.body) as { sessions: { id: string; current: boolean }[] }).sessions.find((s) => s.current);
  assert.ok(own);
  assert.equal((await send('DELETE', `/auth/sessions/${own.id}`, origin)).status, 204);
  assert.equal((await send('POST', '/auth/logout', origin)).status, 200);
  assert.equal((await send('POST', '/auth/logout', { ...origin, 'sec-fetch-mode': 'navigate' })).status, 303);
});
