import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CliProcess } from '../../../test/helpers/cli.js';

/** Splits a printed shell command into words, honouring double quotes. */
function shellWords(line: string): string[] {
  return [...line.trim().matchAll(/"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2] ?? '');
}

/** Performs a printed `curl` line with fetch: only the flags the demo prints. */
async function runCurl(line: string, vars: Record<string, string>) {
  const words = shellWords(line.replace(/\$(\w+)/g, (_m, name: string) => vars[name] ?? assert.fail(`unset $${name}`)));
  assert.equal(words[0], 'curl', line);
  const headers: Record<string, string> = {};
  let url: string | undefined;
  for (let i = 1; i < words.length; i++) {
    const w = words[i] as string;
    if (w === '-H') {
      const [name, ...value] = (words[++i] as string).split(':');
      headers[name!.trim()] = value.join(':').trim();
    } else if (w === '-i' || w === '-s') continue;
    else if (w.startsWith('-')) assert.fail(`unexpected curl flag ${w}`);
    else url = w;
  }
  const res = await fetch(url ?? assert.fail(`no URL in ${line}`), { headers });
  return { status: res.status, headers: res.headers, body: await res.text() };
}

function runDemo(t: { after(fn: () => Promise<void>): void }, args: string[], env?: NodeJS.ProcessEnv): CliProcess {
  const cli = new CliProcess(['demo', ...args], { env });
  t.after(() => cli.stop());
  return cli;
}

test('the demo prints working URLs and curl commands: 401 without a token, 200 with the printed token, 403 without the scope', async (t) => {
  const cli = runDemo(t, ['--port', '0', '--admin-port', '0']);
  await cli.waitForLine('stdout', /Press Ctrl\+C to stop\./);
  const out = cli.stdout;
  const gateway = /^ {2}gateway +(http:\/\/127\.0\.0\.1:\d+)$/m.exec(out)?.[1] ?? assert.fail(out);
  const admin = /^ {2}admin +(http:\/\/127\.0\.0\.1:\d+)/m.exec(out)?.[1] ?? assert.fail(out);
  const token = /^ {2}TOKEN=(\S+)$/m.exec(out)?.[1] ?? assert.fail(out);
  const curls = out.split('\n').filter((l) => l.startsWith('  curl '));
  assert.equal(curls.length, 4, out);
  const [unauthenticated, authorized, forbidden] = curls as [string, string, string];

  const noToken = await runCurl(unauthenticated, {});
  assert.equal(noToken.status, 401);
  assert.equal(noToken.headers.get('www-authenticate'), 'Bearer realm="gatehouse"');
  assert.equal(noToken.headers.get('content-type'), 'application/problem+json');
  assert.equal((JSON.parse(noToken.body) as { code: string }).code, 'GH_TOKEN_MISSING');

  const ok = await runCurl(authorized, { TOKEN: token });
  assert.equal(ok.status, 200, ok.body);
  const echoed = JSON.parse(ok.body) as { identity: Record<string, string>; authorizationForwarded: boolean };
  assert.deepEqual(echoed.identity, {
    'x-gatehouse-subject': 'alice',
    'x-gatehouse-client-id': 'demo-client',
    'x-gatehouse-scopes': 'orders:read',
  });
  assert.equal(echoed.authorizationForwarded, false);

  const denied = await runCurl(forbidden, { TOKEN: token });
  assert.equal(denied.status, 403);
  assert.match(denied.headers.get('www-authenticate') ?? '', /error="insufficient_scope".*scope="orders:write"/);

  const pub = await fetch(`${gateway}/public/hello`);
  assert.equal(pub.status, 200);
  await pub.arrayBuffer();

  // A client cannot spoof identity through the demo either.
  const spoof = await fetch(`${gateway}/api/orders`, { headers: { authorization: `Bearer ${token}`, 'x-gatehouse-subject': 'mallory' } });
  assert.equal((JSON.parse(await spoof.text()) as { identity: Record<string, string> }).identity['x-gatehouse-subject'], 'alice');

  const ready = await fetch(`${admin}/readyz`);
  assert.equal(ready.status, 200);
  await ready.arrayBuffer();
  const metrics = await (await runCurl(curls[3]!.replace(/ \|.*$/, ''), {})).body;
  assert.match(metrics, /gatehouse_requests_total\{[^}]*\} \d+/);

  // The token never reaches the logs (request logs go to stderr).
  assert.ok(!cli.stderr.includes(token), 'token logged');

  cli.child.kill('SIGTERM');
  assert.deepEqual(await cli.exited, { code: 0, signal: null });
});

test('GATEHOUSE_PORT and GATEHOUSE_ADMIN_PORT choose the ports when no flags are given', async (t) => {
  const cli = runDemo(t, [], { GATEHOUSE_PORT: '0', GATEHOUSE_ADMIN_PORT: '0' });
  await cli.waitForLine('stdout', /Press Ctrl\+C to stop\./);
  const gateway = /^ {2}gateway +http:\/\/127\.0\.0\.1:(\d+)$/m.exec(cli.stdout)?.[1];
  const admin = /^ {2}admin +http:\/\/127\.0\.0\.1:(\d+)/m.exec(cli.stdout)?.[1];
  assert.ok(gateway && gateway !== '8080' && gateway !== '0', cli.stdout);
  assert.ok(admin && admin !== '9090' && admin !== '0', cli.stdout);
  cli.child.kill('SIGINT');
  assert.deepEqual(await cli.exited, { code: 0, signal: null });
});
