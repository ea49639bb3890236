import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { packageRoot } from '../config/docs.js';
import { runCli } from '../../test/helpers/cli.js';

test('--help works on the program and on every command and subcommand', async () => {
  const cases: [string[], RegExp][] = [
    [['--help'], /Usage: gatehouse \[options\] \[command\][\s\S]*start[\s\S]*config[\s\S]*token[\s\S]*demo/],
    [['start', '--help'], /Usage: gatehouse start \[options\][\s\S]*--config <file>/],
    [['config', '--help'], /Usage: gatehouse config[\s\S]*check/],
    [['config', 'check', '--help'], /Usage: gatehouse config check \[options\] <file>/],
    [['token', '--help'], /Usage: gatehouse token[\s\S]*inspect/],
    [['token', 'inspect', '--help'], /Usage: gatehouse token inspect \[options\] <token>[\s\S]*--config <file>/],
    [['demo', '--help'], /Usage: gatehouse demo \[options\][\s\S]*--port <port>[\s\S]*--admin-port <port>/],
    [['help', 'start'], /Usage: gatehouse start/],
  ];
  const results = await Promise.all(cases.map(([args]) => runCli(args)));
  results.forEach((r, i) => {
    const [args, pattern] = cases[i]!;
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stdout, pattern, args.join(' '));
  });
});

test('--version prints the version of package.json and exits 0', async () => {
  const pkg = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string };
  assert.match(pkg.version, /^\d+\.\d+\.\d+/);
  for (const flag of ['--version', '-V']) {
    const r = await runCli([flag]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), pkg.version);
  }
});

test('usage errors exit 2 with a message on stderr', async () => {
  const cases: [string[], RegExp, NodeJS.ProcessEnv?][] = [
    [['frobnicate'], /unknown command 'frobnicate'/],
    [['start', '--config', 'x.yaml', '--verbose'], /unknown option '--verbose'/],
    [['start'], /required option '-c, --config <file>' not specified/],
    [['start', '--config'], /option '-c, --config <file>' argument missing/],
    [['config', 'check'], /missing required argument 'file'/],
    [['config', 'check', 'a.yaml', 'b.yaml'], /too many arguments/],
    [['config', 'lint', 'a.yaml'], /unknown command 'lint'/],
    [['token', 'inspect'], /missing required argument 'token'/],
    [['demo', '--port', 'eighty'], /expected a port number from 0 to 65535/],
    [['demo', '--admin-port', '70000'], /expected a port number from 0 to 65535/],
    [['demo'], /GATEHOUSE_PORT must be a port number/, { GATEHOUSE_PORT: 'http' }],
    [[], /Usage: gatehouse/],
  ];
  const results = await Promise.all(cases.map(([args, , env]) => runCli(args, { env })));
  results.forEach((r, i) => {
    const [args, pattern] = cases[i]!;
    assert.equal(r.code, 2, `${args.join(' ')}: exit ${r.code}, stderr: ${r.stderr}`);
    assert.match(r.stderr, pattern, args.join(' '));
    assert.equal(r.stdout, '', `${args.join(' ')} printed to stdout`);
  });
});
