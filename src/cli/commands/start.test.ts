import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { createServer as createTcpServer, type AddressInfo } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { CliProcess, runCli } from '../../../test/helpers/cli.js';
import { freePort } from '../../../test/helpers/ports.js';
import { closesWithin, openConnection, refusedWithin, responseOn } from '../../../test/helpers/raw-connection.js';

/** A real upstream that reports the path it received. */
async function startEcho(t: { after(fn: () => Promise<void>): void }): Promise<string> {
  const server: Server = createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ path: req.url }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  );
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function configText(upstream: string, paths: string[], extra = ''): string {
  const routes = paths.map((p) => `  - path: ${p}\n    upstream: ${upstream}\n    auth: none\n`).join('');
  return `listen: { host: 127.0.0.1, port: 0 }\nadmin: { host: 127.0.0.1, port: 0 }\nshutdown: { drainTimeoutMs: 2000 }\nroutes:\n${routes}${extra}`;
}

async function status(url: string, init?: RequestInit): Promise<number> {
  const res = await fetch(url, init);
  await res.arrayBuffer();
  return res.status;
}

test('start serves the config, SIGHUP rejects a broken file and keeps serving, applies a good one, SIGTERM exits 0', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-start-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const upstream = await startEcho(t);
  const file = join(dir, 'gatehouse.yaml');
  await writeFile(file, configText(upstream, ['/v1']));

  const cli = new CliProcess(['start', '--config', file]);
  t.after(() => cli.stop());
  const started = await cli.waitForLine('stdout', /"msg":"serving 1 route\(s\) on /);
  const info = JSON.parse(started.line) as { url: string; adminUrl: string; routes: { path: string; upstream: string }[] };
  assert.match(info.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.match(info.adminUrl, /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.deepEqual(info.routes.map((r) => [r.path, r.upstream]), [['/v1', upstream]]);

  assert.equal(await status(`${info.url}/v1/items`), 200);
  assert.equal(await status(`${info.url}/v2/items`), 404);
  assert.equal(await status(`${info.adminUrl}/healthz`), 200);

  // A broken file: rejected with its precise problems, the old routes keep serving.
  await writeFile(file, `${configText(upstream, ['/v1', '/v2'])}    colour: blue\n`);
  cli.child.kill('SIGHUP');
  const rejected = await cli.waitForLine('stdout', /configuration rejected/);
  const problems = (JSON.parse(rejected.line) as { problems: string[] }).problems;
  assert.deepEqual(problems.length, 1);
  assert.match(problems[0]!, new RegExp(`gatehouse\\.yaml:\\d+:\\d+ routes\\.1: unknown key 'colour'$`));
  assert.equal(await status(`${info.url}/v1/items`), 200);
  assert.equal(await status(`${info.url}/v2/items`), 404);

  // Not YAML at all: same outcome.
  await writeFile(file, 'routes: [ {\n');
  cli.child.kill('SIGHUP');
  await cli.waitForLine('stdout', /configuration rejected/, rejected.index + 1);
  assert.equal(await status(`${info.url}/v1/items`), 200);

  // A good file: the new route is served.
  await writeFile(file, configText(upstream, ['/v1', '/v2']));
  cli.child.kill('SIGHUP');
  await cli.waitForLine('stdout', /"msg":"configuration reloaded"/);
  assert.equal(await status(`${info.url}/v2/items`), 200);
  assert.equal(await status(`${info.url}/v1/items`), 200);
  // Both rejected files are counted, once each, and the applied one.
  const metrics = await (await fetch(`${info.adminUrl}/metrics`)).text();
  assert.match(metrics, /^gatehouse_config_reloads_total\{result="rejected"\} 2$/m);
  assert.match(metrics, /^gatehouse_config_reloads_total\{result="ok"\} 1$/m);

  cli.child.kill('SIGTERM');
  const exit = await cli.exited;
  assert.deepEqual(exit, { code: 0, signal: null });
  await cli.waitForLine('stdout', /"msg":"gateway stopped"/);
  await assert.rejects(fetch(`${info.url}/v1/items`));
});

test('SIGHUP with a valid file the running gateway cannot apply (a listener change) keeps the old config', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-start-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const upstream = await startEcho(t);
  const file = join(dir, 'gatehouse.yaml');
  await writeFile(file, configText(upstream, ['/v1']));
  const cli = new CliProcess(['start', '--config', file]);
  t.after(() => cli.stop());
  const { url, adminUrl } = JSON.parse((await cli.waitForLine('stdout', /"msg":"serving /)).line) as { url: string; adminUrl: string };

  await writeFile(file, configText(upstream, ['/v1', '/v2']).replace('listen: { host: 127.0.0.1, port: 0 }', 'listen: { host: 127.0.0.1, port: 0, allowInsecureHttp: true }'));
  cli.child.kill('SIGHUP');
  const failed = await cli.waitForLine('stdout', /"msg":"reload failed; the running configuration keeps serving"/);
  assert.match(failed.line, /listen/);
  assert.equal(await status(`${url}/v1/items`), 200);
  assert.equal(await status(`${url}/v2/items`), 404);
  // Refused by the gateway: counted there, once.
  const metrics = await (await fetch(`${adminUrl}/metrics`)).text();
  assert.match(metrics, /^gatehouse_config_reloads_total\{result="rejected"\} 1$/m);
  assert.match(metrics, /^gatehouse_config_reloads_total\{result="ok"\} 0$/m);
  cli.child.kill('SIGTERM');
  assert.deepEqual(await cli.exited, { code: 0, signal: null });
});

/** An `auth:` section for the embedded authorization service on `port`, with one confidential client `svc`. */
function authSection(port: number, clientSecret: string): string {
  return `auth:
  issuer: http://127.0.0.1:${port}
  listen: { port: ${port} }
  store: { kind: sqlite, path: data/oidc.sqlite }
  usersPath: data/users.sqlite
  signing: { keysPath: data/keys.json }
  cookieKeys: ["${'k'.repeat(40)}"]
  resources: [{ indicator: "https://api.example.com", scopes: [api:read] }]
  clients:
    - { clientId: svc, clientSecret: "${clientSecret}", grantTypes: [client_credentials], scopes: [api:read], resources: ["https://api.example.com"] }
`;
}

/** The status of a client_credentials grant for `svc` with `secret` at the service on `port`. */
function tokenStatus(port: number, secret: string): Promise<number> {
  return status(`http://127.0.0.1:${port}/token`, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(`svc:${secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=client_credentials&scope=api:read',
  });
}

test('SIGHUP with a changed auth: section (the embedded service) is refused, naming auth; the old configuration keeps serving', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-start-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const upstream = await startEcho(t);
  const port = await freePort();
  const oldSecret = 'old-secret-0123456789';
  const newSecret = 'new-secret-0123456789';
  const file = join(dir, 'gatehouse.yaml');
  await writeFile(file, configText(upstream, ['/v1'], authSection(port, oldSecret)));
  const cli = new CliProcess(['start', '--config', file]);
  t.after(() => cli.stop());
  const { url, adminUrl } = JSON.parse((await cli.waitForLine('stdout', /"msg":"serving /)).line) as { url: string; adminUrl: string };
  assert.equal(await tokenStatus(port, oldSecret), 200);

  // A rotated client secret, and a new route beside it: the reload is refused as a whole.
  await writeFile(file, configText(upstream, ['/v1', '/v2'], authSection(port, newSecret)));
  cli.child.kill('SIGHUP');
  const outcome = await cli.waitForLine('stdout', /"msg":"(reload failed; the running configuration keeps serving|configuration reloaded)"/);
  assert.match(outcome.line, /"msg":"reload failed; the running configuration keeps serving"/);
  assert.match(outcome.line, /reload cannot change auth/);
  assert.equal(await tokenStatus(port, oldSecret), 200, 'the service still runs on its settings');
  assert.equal(await tokenStatus(port, newSecret), 401);
  assert.equal(await status(`${url}/v1/items`), 200);
  assert.equal(await status(`${url}/v2/items`), 404, 'the route of the refused file is not served');
  assert.match(await (await fetch(`${adminUrl}/metrics`)).text(), /^gatehouse_config_reloads_total\{result="rejected"\} 1$/m);

  // The same file with the running auth: section applies.
  await writeFile(file, configText(upstream, ['/v1', '/v2'], authSection(port, oldSecret)));
  cli.child.kill('SIGHUP');
  await cli.waitForLine('stdout', /"msg":"configuration reloaded"/, outcome.index + 1);
  assert.equal(await status(`${url}/v2/items`), 200);
  cli.child.kill('SIGTERM');
  assert.deepEqual(await cli.exited, { code: 0, signal: null });
});

/** `gatehouse start` on a one-route config in a temporary folder, once it serves. */
async function startServing(t: TestContext): Promise<CliProcess> {
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-start-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'gatehouse.yaml');
  await writeFile(file, configText(await startEcho(t), ['/v1']));
  const cli = new CliProcess(['start', '--config', file]);
  t.after(() => cli.stop());
  await cli.waitForLine('stdout', /"msg":"serving /);
  return cli;
}

test('SIGINT also drains and exits 0', async (t) => {
  const cli = await startServing(t);
  cli.child.kill('SIGINT');
  assert.deepEqual(await cli.exited, { code: 0, signal: null });
});

test('SIGTERM still drains and exits 0 when the reader of its log output has gone away (a broken pipe)', async (t) => {
  const cli = await startServing(t);
  cli.child.stdout?.destroy(); // the log shipper died
  const exit = new Promise<unknown>((resolve) => cli.child.once('exit', (code, signal) => resolve({ code, signal })));
  cli.child.kill('SIGTERM');
  // A guard against a hang (the process spun on the broken pipe for ever), not a measure of speed.
  let guard: NodeJS.Timeout | undefined;
  const hung = new Promise<string>((resolve) => (guard = setTimeout(() => resolve('still running after 30 s'), 30_000)));
  assert.deepEqual(await Promise.race([exit, hung]), { code: 0, signal: null });
  clearTimeout(guard);
});

/** An upstream that answers `finished` only once released: a request in flight for as long as a test needs. */
async function startHeldUpstream(t: TestContext): Promise<{ upstream: string; requestArrived: Promise<void>; release: () => void }> {
  let release: () => void = () => {};
  const held = new Promise<void>((resolve) => (release = resolve));
  let arrived: () => void = () => {};
  const requestArrived = new Promise<void>((resolve) => (arrived = resolve));
  const slow = createServer((_req, res) => {
    arrived();
    void held.then(() => res.end('finished'));
  });
  await new Promise<void>((resolve) => slow.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => slow.close(() => resolve())));
  return { upstream: `http://127.0.0.1:${(slow.address() as AddressInfo).port}`, requestArrived, release };
}

test('SIGTERM lets an in-flight request finish before exiting 0', async (t) => {
  const { upstream, requestArrived, release } = await startHeldUpstream(t);
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-start-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'gatehouse.yaml');
  await writeFile(file, configText(upstream, ['/slow']));
  const cli = new CliProcess(['start', '--config', file]);
  t.after(() => cli.stop());
  const { url } = JSON.parse((await cli.waitForLine('stdout', /"msg":"serving /)).line) as { url: string };

  const response = fetch(`${url}/slow`).then(async (r) => ({ status: r.status, body: await r.text() }));
  await requestArrived;
  cli.child.kill('SIGTERM');
  await cli.waitForLine('stdout', /shutting down/);
  assert.equal(cli.child.exitCode, null, 'still draining while the request runs');
  release();
  assert.deepEqual(await response, { status: 200, body: 'finished' });
  assert.deepEqual(await cli.exited, { code: 0, signal: null });
});

test('SIGTERM: the embedded authorization service serves while the gateway drains, then drains itself: no new connections, idle ones closed, a token request in flight answered, one past the drain timeout cut; exit 0', async (t) => {
  const { upstream, requestArrived, release } = await startHeldUpstream(t);
  t.after(() => release());
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-start-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const port = await freePort();
  const secret = 'svc-secret-0123456789';
  const file = join(dir, 'gatehouse.yaml');
  // Long enough for the steps below on a loaded machine; the stuck request then waits it out.
  const drainTimeoutMs = 8000;
  await writeFile(
    file,
    configText(upstream, ['/slow'], authSection(port, secret)).replace(
      'shutdown: { drainTimeoutMs: 2000 }',
      `shutdown: { drainTimeoutMs: ${drainTimeoutMs} }`,
    ),
  );
  const cli = new CliProcess(['start', '--config', file]);
  t.after(() => cli.stop());
  const { url } = JSON.parse((await cli.waitForLine('stdout', /"msg":"serving /)).line) as { url: string };

  const body = 'grant_type=client_credentials&scope=api:read';
  const tokenHead = (length: number) =>
    `POST /token HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAuthorization: Basic ${Buffer.from(`svc:${secret}`).toString('base64')}\r\n` +
    `Content-Type: application/x-www-form-urlencoded\r\nContent-Length: ${length}\r\n\r\n`;
  // A gateway request in flight, so that the gateway drains.
  const gatewayResponse = fetch(`${url}/slow`).then(async (r) => ({ status: r.status, body: await r.text() }));
  await requestArrived;

  cli.child.kill('SIGTERM');
  const sigterm = Date.now();
  await cli.waitForLine('stdout', /shutting down/);
  // While the gateway drains, the service serves: a request of the gateway's may still need it.
  const during = await openConnection(port);
  during.socket.write(tokenHead(body.length) + body);
  assert.equal((await responseOn(during)).status, 200, 'the service answers while the gateway drains');
  // A token request in flight (its body half sent), one whose body never comes, and an idle keep-alive
  // connection after one answer (sent last, so that by its answer the service has read the others' headers).
  const inFlight = await openConnection(port);
  inFlight.socket.write(tokenHead(body.length) + body.slice(0, 10));
  const stuck = await openConnection(port);
  stuck.socket.write(tokenHead(body.length));
  const idle = await openConnection(port);
  idle.socket.write(`GET /jwks HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
  assert.equal((await responseOn(idle)).status, 200);

  release();
  assert.deepEqual(await gatewayResponse, { status: 200, body: 'finished' });
  // The gateway has drained: now the service stops accepting and closes its idle connections.
  assert.equal(await refusedWithin(port, 5000), true, 'no new connection once the gateway has drained');
  assert.equal(await closesWithin(idle, 5000), 'closed', 'the idle connection is closed');
  inFlight.socket.write(body.slice(10));
  const answered = await responseOn(inFlight);
  assert.equal(answered.status, 200, answered.body);
  assert.ok((JSON.parse(answered.body) as { access_token?: string }).access_token);
  assert.match(answered.head, /\r\nconnection: close/i);
  assert.equal(await closesWithin(inFlight, 5000), 'closed', 'its connection ends with the answer');

  assert.deepEqual(await cli.exited, { code: 0, signal: null });
  await stuck.closed;
  assert.equal(stuck.received(), '', 'the request that outlived the drain timeout was cut');
  assert.ok(Date.now() - sigterm >= drainTimeoutMs - 100, 'the stuck request had the rest of the drain timeout');
});

test('an invalid config never starts: exit 1 with every problem', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-start-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'bad.yaml');
  await writeFile(file, 'listen: { port: 70000 }\nroutes:\n  - path: /x\n    upstream: nope\n');
  const r = await runCli(['start', '--config', file]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /bad\.yaml:1:17 listen\.port: /);
  assert.match(r.stderr, /bad\.yaml:4:15 routes\.0\.upstream: Invalid URL/);
});

test('an authorization service on the gateway\'s port is refused before anything is opened, naming both keys at the line config check gives, exit 1', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-start-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const port = await freePort();
  const file = join(dir, 'gatehouse.yaml');
  await writeFile(file, configText('http://127.0.0.1:9', ['/v1'], authSection(port, 's'.repeat(20))).replace('listen: { host: 127.0.0.1, port: 0 }', `listen: { host: 127.0.0.1, port: ${port} }`));
  const r = await runCli(['start', '--config', file]);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  // Line 10 is the service's `listen: { port: N }`; column 19 its port.
  const expected = `${file}:10:19 auth.listen.port: port ${port} is also listen.port on the same address`;
  assert.equal(r.stderr, `${expected}\n`, 'FILE:LINE:COL key.path: message, as every other configuration problem at start');
  const check = await runCli(['config', 'check', file]);
  assert.equal(check.code, 1, check.stdout);
  assert.equal(check.stderr, r.stderr, 'start and config check report the clash alike');
});

test('a port already in use is a clear startup error, exit 1', async (t) => {
  const blocker = createTcpServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => blocker.close(() => resolve())));
  const port = (blocker.address() as AddressInfo).port;
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-start-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'gatehouse.yaml');
  await writeFile(file, configText('http://127.0.0.1:9', ['/v1']).replace('port: 0 }\nadmin', `port: ${port} }\nadmin`));
  const r = await runCli(['start', '--config', file]);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stderr, /^gatehouse: .*EADDRINUSE/m);
});
