import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { packageRoot } from '../../config/docs.js';
import { runCli } from '../../../test/helpers/cli.js';

async function tempDir(t: { after(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-config-check-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test('examples/gatehouse.yaml is accepted, with a short summary', async () => {
  const file = join(packageRoot(), 'examples/gatehouse.yaml');
  const r = await runCli(['config', 'check', file]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  assert.match(r.stdout, /: OK\n/);
  assert.match(r.stdout, /listen {3}http:\/\/127\.0\.0\.1:8080/);
  assert.match(r.stdout, /issuer {3}https:\/\/auth\.example\.com \(RS256, ES256; jwks /);
  assert.match(r.stdout, /route {4}\/api\/orders -> http:\/\/127\.0\.0\.1:9001 \(auth: jwt scopes: orders:read\)/);
});

test('every optional `#:` section of examples/gatehouse.yaml is valid once enabled', async (t) => {
  const dir = await tempDir(t);
  const text = await readFile(join(packageRoot(), 'examples/gatehouse.yaml'), 'utf8');
  const enabled = text.replace(/^(\s*)#: ?/gm, '$1');
  assert.notEqual(enabled, text, 'the example has optional sections');
  const file = join(dir, 'full.yaml');
  await writeFile(file, enabled);
  const env: NodeJS.ProcessEnv = {};
  for (const [, name] of enabled.matchAll(/\$\{([A-Z0-9_]+)\}/g)) env[name!] = 'x'.repeat(32);
  env.GATEHOUSE_SESSION_KEY = Buffer.alloc(32, 7).toString('base64');
  const r = await runCli(['config', 'check', file], { env });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /issuer {3}internal-batch \(HS256; secret\)/);
  assert.match(r.stdout, /introspection discovered from https:\/\/auth\.example\.com/);
  assert.match(r.stdout, /sessions stateful at https:\/\/app\.example\.com/);
  assert.match(r.stdout, /auth {5}https:\/\/auth\.example\.com on http:\/\/127\.0\.0\.1:8081/);
  assert.match(r.stdout, /route {4}\/api\/reports -> .*\(auth: jwt\|opaque scopes: reports:read\)/);
  assert.match(r.stdout, /route {4}\/app -> .*\(auth: session\)/);
});

test('every problem is printed as FILE:LINE:COL key.path: message, exit 1', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'bad.yaml');
  await writeFile(
    file,
    [
      'listen:',
      '  port: 99999',
      'security:',
      '  jwt:',
      '    issuer: https://auth.example.com',
      '    audience: api',
      '    algorithms: [none]',
      '    jwksUri: https://auth.example.com/jwks',
      'routes:',
      '  - path: api',
      '    upstream: not-a-url',
      '',
    ].join('\n'),
  );
  const r = await runCli(['config', 'check', file]);
  assert.equal(r.code, 1);
  assert.equal(r.stdout, '');
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 4, r.stderr);
  assert.match(lines[0]!, new RegExp(`^${escape(file)}:2:9 listen\\.port: .*65535`));
  assert.match(lines[1]!, new RegExp(`^${escape(file)}:7:18 security\\.jwt\\.algorithms\\.0: .*"RS256"`));
  assert.match(lines[2]!, new RegExp(`^${escape(file)}:10:11 routes\\.0\\.path: .*"/"`));
  assert.match(lines[3]!, new RegExp(`^${escape(file)}:11:15 routes\\.0\\.upstream: Invalid URL`));
});

test('unknown keys, YAML syntax errors, unset env vars, missing files and unreadable configs are all exit 1', async (t) => {
  const dir = await tempDir(t);
  const base = 'routes:\n  - path: /x\n    upstream: http://127.0.0.1:9001\n    auth: none\n';
  const cases: [string, string, RegExp][] = [
    ['unknown.yaml', `${base}    scopez: [a]\n`, /unknown\.yaml:5:\d+ routes\.0: unknown key 'scopez'/],
    ['syntax.yaml', 'routes: [ { path: /x\n', /syntax\.yaml:\d+:\d+ .*(Flow|flow)/],
    ['env.yaml', `${base}    name: \${GATEHOUSE_TEST_UNSET_VARIABLE}\n`, /env\.yaml:5:11 routes\.0\.name: environment variable GATEHOUSE_TEST_UNSET_VARIABLE is not set/],
    [
      'key.yaml',
      `security:\n  jwt:\n    issuer: https://a.example\n    audience: api\n    algorithms: [RS256]\n    publicKey: keys/missing.pem\n${base}`,
      /key\.yaml:6:16 security\.jwt\.publicKey: cannot read file keys\/missing\.pem/,
    ],
  ];
  for (const [name, text] of cases) await writeFile(join(dir, name), text);
  const results = await Promise.all([...cases.map(([name]) => runCli(['config', 'check', join(dir, name)])), runCli(['config', 'check', join(dir, 'absent.yaml')])]);
  cases.forEach(([name, , pattern], i) => {
    assert.equal(results[i]!.code, 1, `${name}: ${results[i]!.stdout}`);
    assert.match(results[i]!.stderr, pattern, name);
  });
  const absent = results[cases.length]!;
  assert.equal(absent.code, 1);
  assert.match(absent.stderr, /absent\.yaml cannot read file: ENOENT/);
});

test('env interpolation and relative key paths are resolved as start resolves them', async (t) => {
  const dir = await tempDir(t);
  const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  await writeFile(join(dir, 'public.pem'), publicKey.export({ type: 'spki', format: 'pem' }));
  const file = join(dir, 'ok.yaml');
  await writeFile(
    file,
    'security:\n  jwt:\n    issuer: ${ISSUER}\n    audience: api\n    algorithms: [ES256]\n    publicKey: public.pem\nroutes:\n  - path: /x\n    upstream: http://127.0.0.1:9001\n',
  );
  // From another working directory: the key path is relative to the file, not the cwd.
  const r = await runCli(['config', 'check', file], { env: { ISSUER: 'https://issuer.example' }, cwd: tmpdir() });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /issuer {3}https:\/\/issuer\.example \(ES256; key public\.pem\)/);
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

test('what start would refuse is refused here too, each at its line: insecure listen, http JWKS, route table conflicts', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'conflicts.yaml');
  await writeFile(
    file,
    [
      'listen: { host: 0.0.0.0, port: 8080 }',
      'security:',
      '  jwt:',
      '    issuer: https://auth.example.com',
      '    audience: api',
      '    algorithms: [RS256]',
      '    jwksUri: http://auth.example.com/jwks',
      'routes:',
      '  - path: /api/orders',
      '    upstream: http://127.0.0.1:9001',
      '    auth: none',
      '  - path: /API/Orders/',
      '    upstream: http://127.0.0.1:9002',
      '    auth: none',
      '  - path: /svc/../other//x',
      '    upstream: http://user:pw@127.0.0.1:9003/?q=1',
      '    auth: jwt',
      '    issuers: [nobody]',
      '  - name: /api/orders',
      '    path: /v2;x',
      '    upstream: ftp://127.0.0.1/',
      '    auth: none',
      '',
    ].join('\n'),
  );
  const r = await runCli(['config', 'check', file]);
  assert.equal(r.code, 1, r.stdout);
  const lines = r.stderr.trim().split('\n');
  for (const expected of [
    /conflicts\.yaml:1:17 listen\.host: plain HTTP on a non-loopback address needs listen\.tls, or allowInsecureHttp: true/,
    /conflicts\.yaml:7:14 security\.jwt\.jwksUri: must be https/,
    /conflicts\.yaml:12:11 routes\.1\.path: matches the same requests as routes\.0/,
    /conflicts\.yaml:15:11 routes\.2\.path: write the path as \/other\/x/,
    /conflicts\.yaml:16:15 routes\.2\.upstream: must not carry a query, fragment or credentials/,
    /conflicts\.yaml:18:15 routes\.2\.issuers\.0: no issuer in security\.jwt is named nobody/,
    /conflicts\.yaml:19:11 routes\.3\.name: route name \/api\/orders is also used by routes\.0/,
    /conflicts\.yaml:20:11 routes\.3\.path: contains characters requests may not use/,
    /conflicts\.yaml:21:15 routes\.3\.upstream: must be an http or https URL/,
  ]) {
    assert.ok(lines.some((l) => expected.test(l)), `${expected}\n${r.stderr}`);
  }
  assert.equal(lines.length, 9, r.stderr);
});

test('key files that exist but would not load are refused at their line: a public key that does not import, a TLS pair that does not match', async (t) => {
  const dir = await tempDir(t);
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  await writeFile(join(dir, 'garbage.pem'), 'not a key at all\n');
  await writeFile(join(dir, 'private.pem'), ec.privateKey.export({ type: 'pkcs8', format: 'pem' }));
  await writeFile(join(dir, 'ec.pem'), ec.publicKey.export({ type: 'spki', format: 'pem' }));
  await writeFile(join(dir, 'tls.key'), rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }));
  await writeFile(join(dir, 'tls.crt'), '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
  const issuer = (name: string, key: string, alg: string) =>
    [`    - name: ${name}`, `      issuer: https://${name}.example`, '      audience: api', `      algorithms: [${alg}]`, `      publicKey: ${key}`];
  const file = join(dir, 'keys.yaml');
  await writeFile(
    file,
    [
      'listen:',
      '  tls: { cert: tls.crt, key: tls.key }',
      'security:',
      '  jwt:',
      ...issuer('a', 'garbage.pem', 'ES256'),
      ...issuer('b', 'private.pem', 'ES256'),
      ...issuer('c', 'ec.pem', 'RS256'),
      ...issuer('d', 'ec.pem', 'ES256'),
      'routes:',
      '  - path: /x',
      '    upstream: http://127.0.0.1:9001',
      '',
    ].join('\n'),
  );
  const r = await runCli(['config', 'check', file]);
  assert.equal(r.code, 1, r.stdout);
  const lines = r.stderr.trim().split('\n');
  assert.match(lines[0] ?? '', /keys\.yaml:9:18 security\.jwt\.0\.publicKey: public key file .*garbage\.pem: neither PEM nor JSON/);
  assert.match(lines[1] ?? '', /keys\.yaml:14:18 security\.jwt\.1\.publicKey: public key file .*private\.pem: holds a private key/);
  assert.match(lines[2] ?? '', /keys\.yaml:19:18 security\.jwt\.2\.publicKey: public key file .*ec\.pem: /);
  assert.match(lines[3] ?? '', /keys\.yaml:2:16 listen\.tls\.cert: TLS certificate \S+tls\.crt and key \S+tls\.key do not load/);
  assert.equal(lines.length, 4, r.stderr);
});

test('URLs the gateway fetches from: credentials in them are refused; a query string is not printed', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'g.yaml');
  const config = (jwksUri: string) => `security:
  jwt: { issuer: "https://idp.example", audience: api, jwksUri: "${jwksUri}", algorithms: [RS256] }
routes:
  - { path: /, upstream: "http://127.0.0.1:9", auth: jwt }
`;
  await writeFile(file, config('https://svc:S3cr3tPass@idp.example/jwks'));
  const refused = await runCli(['config', 'check', file]);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /security\.jwt\.jwksUri: must not carry credentials/);
  assert.doesNotMatch(refused.stdout + refused.stderr, /S3cr3tPass/);
  await writeFile(file, config('https://idp.example/discovery/keys?appid=app-1&api_key=TOPSECRETKEY'));
  const ok = await runCli(['config', 'check', file]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /jwks https:\/\/idp\.example\/discovery\/keys\?…\)/);
  assert.doesNotMatch(ok.stdout, /TOPSECRETKEY/);
});

test('the authorization service on the gateway\'s port: refused in a file with routes (start opens both), a note in an auth-only file', async (t) => {
  const dir = await tempDir(t);
  const auth = [
    'auth:',
    '  issuer: http://127.0.0.1:8080',
    '  listen: { port: 8080 }',
    '  store: { kind: sqlite, path: data/oidc.sqlite }',
    '  usersPath: data/users.sqlite',
    '  signing: { keysPath: data/keys.json }',
    `  cookieKeys: ["${'k'.repeat(40)}"]`,
    '',
  ].join('\n');
  const withRoutes = join(dir, 'gateway.yaml');
  await writeFile(withRoutes, `listen: { host: 127.0.0.1, port: 8080 }\nroutes:\n  - path: /v1\n    upstream: http://127.0.0.1:9001\n    auth: none\n${auth}`);
  const gateway = await runCli(['config', 'check', withRoutes]);
  assert.equal(gateway.code, 1, gateway.stdout);
  assert.match(gateway.stderr, /gateway\.yaml:8:19 auth\.listen\.port: port 8080 is also listen\.port on the same address/);

  const authOnly = join(dir, 'auth-only.yaml');
  await writeFile(authOnly, auth);
  const service = await runCli(['config', 'check', authOnly]);
  assert.equal(service.code, 0, service.stderr);
  assert.match(service.stdout, /note {5}auth\.listen\.port: port 8080 is also listen\.port on the same address: `auth start` serves this file, `start` refuses it/);
});
