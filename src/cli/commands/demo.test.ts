import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CliProcess } from '../../../test/helpers/cli.js';
import { loginWithForm } from '../../../test/helpers/auth-service.js';

/** Splits a printed shell command into words, honouring double quotes. */
function shellWords(line: string): string[] {
  return [...line.trim().matchAll(/"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2] ?? '');
}

/** Performs a printed `curl` line with fetch: only the flags the demo prints (-i -s -H -u -d; -d means a form POST). */
async function runCurl(line: string, vars: Record<string, string>) {
  const words = shellWords(line.replace(/\$(\w+)/g, (_m, name: string) => vars[name] ?? assert.fail(`unset $${name}`)));
  assert.equal(words[0], 'curl', line);
  const headers: Record<string, string> = {};
  const form = new URLSearchParams();
  let url: string | undefined;
  for (let i = 1; i < words.length; i++) {
    const w = words[i] as string;
    if (w === '-H') {
      const [name, ...value] = (words[++i] as string).split(':');
      headers[name!.trim()] = value.join(':').trim();
    } else if (w === '-u') headers.authorization = `Basic ${Buffer.from(words[++i] as string).toString('base64')}`;
    else if (w === '-d') {
      const [name, ...value] = (words[++i] as string).split('=');
      form.append(name as string, value.join('='));
    } else if (w === '-i' || w === '-s') continue;
    else if (w.startsWith('-')) assert.fail(`unexpected curl flag ${w}`);
    else url = w;
  }
  const post = [...form.keys()].length > 0;
  const res = await fetch(url ?? assert.fail(`no URL in ${line}`), { method: post ? 'POST' : 'GET', headers, body: post ? form : undefined });
  return { status: res.status, headers: res.headers, body: await res.text() };
}

/** Runs a printed `NAME=$(curl … | node -pe '…access_token')` line: the curl, then the same extraction. */
async function runAssignment(line: string, vars: Record<string, string>): Promise<[string, string]> {
  const m = /^ {2}(\w+)=\$\((curl .*?) \| node -pe '.*access_token'\)$/.exec(line) ?? assert.fail(`not an assignment: ${line}`);
  const res = await runCurl(m[2] as string, vars);
  assert.equal(res.status, 200, res.body);
  return [m[1] as string, (JSON.parse(res.body) as { access_token: string }).access_token];
}

function runDemo(t: { after(fn: () => Promise<void>): void }, args: string[], env?: NodeJS.ProcessEnv): CliProcess {
  const cli = new CliProcess(['demo', ...args], { env });
  t.after(() => cli.stop());
  return cli;
}

test('the demo prints working commands: a client-credentials JWT (200, 403 without the scope), an opaque token by introspection, alice signing in with PKCE', async (t) => {
  const cli = runDemo(t, ['--port', '0', '--admin-port', '0', '--auth-port', '0']);
  await cli.waitForLine('stdout', /Press Ctrl\+C to stop\./);
  const out = cli.stdout;
  const lines = out.split('\n');
  const gateway = /^ {2}gateway +(http:\/\/127\.0\.0\.1:\d+)$/m.exec(out)?.[1] ?? assert.fail(out);
  const admin = /^ {2}admin +(http:\/\/127\.0\.0\.1:\d+)/m.exec(out)?.[1] ?? assert.fail(out);
  assert.match(out, /^ {2}auth +http:\/\/127\.0\.0\.1:\d+ /m);
  assert.match(out, /client demo-service, secret demo-service-secret/);
  assert.match(out, /client demo-cli \(public\) +code \+ PKCE; redirect http:\/\/127\.0\.0\.1:8788\/callback/);
  assert.match(out, /user +alice, password alice-password/);
  const curls = lines.filter((l) => l.startsWith('  curl '));
  const assignments = lines.filter((l) => /^ {2}\w+=\$\(curl /.test(l));
  assert.equal(curls.length, 6, out);
  assert.equal(assignments.length, 3, out);
  const [unauthenticated, authorized, forbidden, introspected, revoke, metricsLine] = curls as [string, string, string, string, string, string];
  const vars: Record<string, string> = {};

  const noToken = await runCurl(unauthenticated, vars);
  assert.equal(noToken.status, 401);
  assert.equal(noToken.headers.get('www-authenticate'), 'Bearer realm="gatehouse"');
  assert.equal(noToken.headers.get('content-type'), 'application/problem+json');
  assert.equal((JSON.parse(noToken.body) as { code: string }).code, 'GH_TOKEN_MISSING');

  // Client credentials at the authorization service → a JWT access token.
  const [name, token] = await runAssignment(assignments[0] as string, vars);
  assert.equal(name, 'TOKEN');
  vars.TOKEN = token;
  assert.equal(token.split('.').length, 3, 'a JWT');
  const ok = await runCurl(authorized, vars);
  assert.equal(ok.status, 200, ok.body);
  const echoed = JSON.parse(ok.body) as { identity: Record<string, string>; authorizationForwarded: boolean };
  assert.deepEqual(echoed.identity, {
    'x-gatehouse-subject': 'demo-service',
    'x-gatehouse-client-id': 'demo-service',
    'x-gatehouse-scopes': 'orders:read',
  });
  assert.equal(echoed.authorizationForwarded, false);

  const denied = await runCurl(forbidden, vars);
  assert.equal(denied.status, 403);
  assert.match(denied.headers.get('www-authenticate') ?? '', /error="insufficient_scope".*scope="orders:write"/);

  // An opaque token, accepted by introspection; the printed revocation is accepted by the service.
  const [opaqueName, opaque] = await runAssignment(assignments[1] as string, vars);
  assert.equal(opaqueName, 'OPAQUE');
  vars.OPAQUE = opaque;
  assert.equal(opaque.split('.').length, 1, 'an opaque token');
  const viaIntrospection = await runCurl(introspected, vars);
  assert.equal(viaIntrospection.status, 200, viaIntrospection.body);
  assert.equal((JSON.parse(viaIntrospection.body) as { identity: Record<string, string> }).identity['x-gatehouse-client-id'], 'demo-service');
  assert.equal((await runCurl(revoke, vars)).status, 200);

  // alice signs in through the service's login form with the printed PKCE URL, then the printed exchange runs.
  const signIn = lines.find((l) => /^ {2}http:\/\/127\.0\.0\.1:\d+\/auth\?/.test(l))?.trim() ?? assert.fail(out);
  const callback = await loginWithForm(signIn, { username: 'alice', password: 'alice-password', redirectUri: 'http://127.0.0.1:8788/callback' });
  vars.CODE = callback.searchParams.get('code') ?? assert.fail(`no code in ${callback.href}`);
  const [, aliceToken] = await runAssignment(assignments[2] as string, vars);
  const asAlice = await runCurl(authorized, { TOKEN: aliceToken });
  assert.equal(asAlice.status, 200, asAlice.body);
  const aliceIdentity = (JSON.parse(asAlice.body) as { identity: Record<string, string> }).identity;
  assert.equal(aliceIdentity['x-gatehouse-client-id'], 'demo-cli');
  assert.ok(aliceIdentity['x-gatehouse-subject'] && aliceIdentity['x-gatehouse-subject'] !== 'demo-cli', 'the subject is alice\'s account');

  const pub = await fetch(`${gateway}/public/hello`);
  assert.equal(pub.status, 200);
  await pub.arrayBuffer();

  // A client cannot spoof identity through the demo either.
  const spoof = await fetch(`${gateway}/api/orders`, { headers: { authorization: `Bearer ${token}`, 'x-gatehouse-subject': 'mallory' } });
  assert.equal((JSON.parse(await spoof.text()) as { identity: Record<string, string> }).identity['x-gatehouse-subject'], 'demo-service');

  const ready = await fetch(`${admin}/readyz`);
  assert.equal(ready.status, 200);
  await ready.arrayBuffer();
  const metrics = await (await runCurl(metricsLine.replace(/ \|.*$/, ''), {})).body;
  assert.match(metrics, /gatehouse_requests_total\{[^}]*\} \d+/);

  // No token reaches the logs (request logs go to stderr).
  for (const tok of [token, opaque, aliceToken]) assert.ok(!cli.stderr.includes(tok), 'token logged');

  cli.child.kill('SIGTERM');
  assert.deepEqual(await cli.exited, { code: 0, signal: null });
});

test('GATEHOUSE_PORT and GATEHOUSE_ADMIN_PORT choose the ports when no flags are given', async (t) => {
  const cli = runDemo(t, [], { GATEHOUSE_PORT: '0', GATEHOUSE_ADMIN_PORT: '0', GATEHOUSE_AUTH_PORT: '0' });
  await cli.waitForLine('stdout', /Press Ctrl\+C to stop\./);
  const gateway = /^ {2}gateway +http:\/\/127\.0\.0\.1:(\d+)$/m.exec(cli.stdout)?.[1];
  const admin = /^ {2}admin +http:\/\/127\.0\.0\.1:(\d+)/m.exec(cli.stdout)?.[1];
  assert.ok(gateway && gateway !== '8080' && gateway !== '0', cli.stdout);
  assert.ok(admin && admin !== '9090' && admin !== '0', cli.stdout);
  cli.child.kill('SIGINT');
  assert.deepEqual(await cli.exited, { code: 0, signal: null });
});
