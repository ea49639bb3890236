import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { CliProcess, runCli } from '../../../test/helpers/cli.js';
import { freePort } from '../../../test/helpers/ports.js';
import { closesWithin, openConnection, refusedWithin, responseOn } from '../../../test/helpers/raw-connection.js';

const env = { COOKIE_KEY: 'k'.repeat(40), SVC_SECRET: 'svc-secret-0123456789' };

async function writeConfig(dir: string, port: number): Promise<string> {
  const file = join(dir, 'gatehouse.yaml');
  await writeFile(
    file,
    `auth:
  issuer: http://127.0.0.1:${port}
  listen: { port: ${port} }
  store: { kind: sqlite, path: data/oidc.sqlite }
  usersPath: data/users.sqlite
  signing: { keysPath: data/keys.json, rotationDelay: 1m }
  cookieKeys: ["\${COOKIE_KEY}"]
  resources: [{ indicator: "https://api.example.com", scopes: [api:read] }]
  clients:
    - { clientId: svc, clientSecret: "\${SVC_SECRET}", grantTypes: [client_credentials], scopes: [api:read], resources: ["https://api.example.com"] }
`,
  );
  return file;
}

test('users add|passwd|list|remove: password from stdin, never argv', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'gh-cli-auth-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = await writeConfig(dir, 1);
  const add = await runCli(['users', 'add', 'bob', '--config', file, '--password-stdin'], { env, input: 'bob-password-1\n' });
  assert.equal(add.code, 0, add.stderr);
  assert.match(add.stdout, /added bob \(sub [0-9a-f-]{36}\)/);
  const dup = await runCli(['users', 'add', 'bob', '--config', file, '--password-stdin'], { env, input: 'bob-password-1\n' });
  assert.equal(dup.code, 1);
  assert.match(dup.stderr, /already exists/);
  const short = await runCli(['users', 'add', 'carol', '--config', file, '--password-stdin'], { env, input: 'short\n' });
  assert.equal(short.code, 1);
  assert.match(short.stderr, /at least 8 characters/);
  const noTty = await runCli(['users', 'add', 'carol', '--config', file], { env });
  assert.equal(noTty.code, 1);
  assert.match(noTty.stderr, /--password-stdin/);
  const argv = await runCli(['users', 'add', 'carol', 'some-password', '--config', file], { env });
  assert.equal(argv.code, 2, 'a password on the command line is a usage error');
  const passwd = await runCli(['users', 'passwd', 'bob', '--config', file, '--password-stdin'], { env, input: 'bob-password-2' });
  assert.equal(passwd.code, 0, passwd.stderr);
  const list = await runCli(['users', 'list', '--config', file], { env });
  assert.match(list.stdout, /^bob\t/m);
  assert.doesNotMatch(list.stdout, /scrypt/);
  assert.equal((await runCli(['users', 'remove', 'bob', '--config', file], { env })).code, 0);
  const gone = await runCli(['users', 'remove', 'bob', '--config', file], { env });
  assert.equal(gone.code, 1);
  assert.match(gone.stderr, /no user bob/);
});

/** `gatehouse auth start` on a fresh config in a temporary folder, listening once this resolves. */
async function startAuthCli(t: TestContext): Promise<{ file: string; port: number; svc: CliProcess }> {
  const dir = await mkdtemp(join(tmpdir(), 'gh-cli-auth-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const port = await freePort();
  const file = await writeConfig(dir, port);
  const svc = new CliProcess(['auth', 'start', '--config', file], { env });
  t.after(() => svc.stop());
  await svc.waitForLine('stdout', /authorization service .* listening/);
  return { file, port, svc };
}

test('auth start serves tokens; keys rotate publishes a key the running service picks up on SIGHUP', async (t) => {
  const { file, port, svc } = await startAuthCli(t);
  const base = `http://127.0.0.1:${port}`;
  const token = await fetch(`${base}/token`, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(`svc:${env.SVC_SECRET}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=client_credentials&scope=api:read',
  });
  assert.equal(token.status, 200);
  assert.equal(((await token.json()) as { scope: string }).scope, 'api:read');

  const rotate = await runCli(['keys', 'rotate', '--config', file], { env });
  assert.equal(rotate.code, 0, rotate.stderr);
  const kid = /new key (\S+)/.exec(rotate.stdout)?.[1] as string;
  const list = await runCli(['keys', 'list', '--config', file], { env });
  assert.match(list.stdout, new RegExp(`^${kid}\\tES256\\tnext`, 'm'));
  assert.match(list.stdout, /\tactive\t/);
  svc.child.kill('SIGHUP');
  for (;;) {
    const jwks = (await (await fetch(`${base}/jwks`)).json()) as { keys: { kid: string }[] };
    if (jwks.keys.some((k) => k.kid === kid)) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  svc.child.kill('SIGTERM');
  assert.equal((await svc.exited).code, 0);
});

test('auth start drains on SIGTERM: no new connections, idle ones closed, a token request in flight answered; exit 0', async (t) => {
  const { port, svc } = await startAuthCli(t);
  const body = 'grant_type=client_credentials&scope=api:read';
  const inFlight = await openConnection(port);
  inFlight.socket.write(
    `POST /token HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAuthorization: Basic ${Buffer.from(`svc:${env.SVC_SECRET}`).toString('base64')}\r\n` +
      `Content-Type: application/x-www-form-urlencoded\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, 10)}`,
  );
  // Answered only once the service has read the request above too (see start.test.ts).
  const idle = await openConnection(port);
  idle.socket.write(`GET /jwks HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
  assert.equal((await responseOn(idle)).status, 200);

  svc.child.kill('SIGTERM');
  await svc.waitForLine('stdout', /shutting down/);
  assert.equal(await closesWithin(idle, 5000), 'closed');
  assert.equal(await refusedWithin(port, 5000), true);
  inFlight.socket.write(body.slice(10));
  const answered = await responseOn(inFlight);
  assert.equal(answered.status, 200, answered.body);
  assert.ok((JSON.parse(answered.body) as { access_token?: string }).access_token);
  assert.deepEqual(await svc.exited, { code: 0, signal: null });
});

test('auth start without an auth section: exit 1 with the reason', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'gh-cli-auth-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'g.yaml');
  await writeFile(file, 'routes:\n  - { path: /, upstream: "http://127.0.0.1:1", auth: none }\n');
  const r = await runCli(['auth', 'start', '--config', file]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /no auth section/);
});
