import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { exportSPKI, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { createDemoSigner } from '../../demo/keys.js';
import { runCli } from '../../../test/helpers/cli.js';
import { startJwksServer } from '../../../test/helpers/jwt.js';

const ISSUER = 'https://auth.test.example';

async function sign(key: CryptoKey, claims: Record<string, unknown>, header: Record<string, unknown> = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ iss: ISSUER, aud: 'api', sub: 'alice', iat: now, exp: now + 600, scope: 'orders:read', ...claims })
    .setProtectedHeader({ alg: 'ES256', kid: 'k1', ...header })
    .sign(key);
}

async function setup(t: { after(fn: () => Promise<void>): void }) {
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-inspect-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  await writeFile(join(dir, 'issuer.pem'), await exportSPKI(publicKey));
  const config = join(dir, 'gatehouse.yaml');
  // publicKey is relative: it must resolve next to the config file, not the cwd.
  await writeFile(
    config,
    `security:\n  jwt:\n    issuer: ${ISSUER}\n    audience: api\n    publicKey: issuer.pem\n    algorithms: [ES256]\nroutes:\n  - path: /api\n    upstream: http://127.0.0.1:9001\n`,
  );
  return { config, privateKey };
}

interface Printed {
  header: Record<string, unknown> | null;
  claims: Record<string, unknown> | null;
  times?: Record<string, string>;
  verified: boolean | string;
  reason?: string;
  code?: string;
  decodeError?: string;
}

test('without --config: decoded header, claims and times; verification not checked; exit 0', async () => {
  const { privateKey } = await generateKeyPair('ES256');
  const token = await sign(privateKey, { exp: 2000000000, iat: 1999999000 });
  const r = await runCli(['token', 'inspect', token]);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as Printed;
  assert.deepEqual(out.header, { alg: 'ES256', kid: 'k1' });
  assert.equal(out.claims?.sub, 'alice');
  assert.equal(out.times?.exp, '2033-05-18T03:33:20.000Z');
  assert.equal(out.verified, 'not checked (no --config)');
  assert.equal(out.reason, undefined);
  assert.match(r.stdout, /^\{\n {2}"header": \{\n/, 'pretty-printed');
});

test('time claims beyond what a date can show (exp 1e20) are marked, not a crash: header, claims and the verdict are still printed', async (t) => {
  const { config, privateKey } = await setup(t);
  const token = await sign(privateKey, { exp: 1e20, nbf: -1e20 });
  for (const args of [['token', 'inspect', token], ['token', 'inspect', token, '--config', config]]) {
    const r = await runCli(args, { cwd: tmpdir() });
    const out = JSON.parse(r.stdout) as Printed;
    assert.equal(out.claims?.exp, 1e20);
    assert.equal(out.times?.exp, 'out of range');
    assert.equal(out.times?.nbf, 'out of range');
    assert.match(out.times?.iat ?? '', /^\d{4}-\d\d-\d\dT/);
    if (args.includes('--config')) assert.equal(r.code, out.verified === true ? 0 : 1, r.stderr);
    else assert.deepEqual([r.code, out.verified], [0, 'not checked (no --config)']);
  }
});

test('with --config: verifies, or says why not, with exit 0 or 1', async (t) => {
  const { config, privateKey } = await setup(t);
  const { privateKey: otherKey } = await generateKeyPair('ES256');
  const now = Math.floor(Date.now() / 1000);
  const cases: [string, string, boolean, string?][] = [
    ['valid', await sign(privateKey, {}), true],
    ['expired', await sign(privateKey, { iat: now - 7200, exp: now - 3600 }), false, 'GH_TOKEN_EXPIRED'],
    ['wrong audience', await sign(privateKey, { aud: 'other-api' }), false, 'GH_TOKEN_INVALID'],
    ['wrong key', await sign(otherKey, {}), false, 'GH_TOKEN_INVALID'],
    ['unknown issuer', await sign(privateKey, { iss: 'https://evil.example' }), false, 'GH_TOKEN_INVALID'],
  ];
  const results = await Promise.all(cases.map(([, token]) => runCli(['token', 'inspect', token, '--config', config], { cwd: tmpdir() })));
  results.forEach((r, i) => {
    const [name, , verified, code] = cases[i]!;
    assert.equal(r.code, verified ? 0 : 1, `${name}: ${r.stderr}`);
    const out = JSON.parse(r.stdout) as Printed;
    assert.equal(out.verified, verified, name);
    assert.equal(out.code, code, name);
    if (!verified) assert.ok(out.reason && out.reason.length > 0, `${name}: no reason`);
    assert.equal(out.claims?.sub, 'alice', name);
  });
});

test('a token that is not a JWT: exit 1, nothing decoded, and the token is not echoed', async (t) => {
  const { config } = await setup(t);
  const garbage = 'not-a-jwt-c2VjcmV0LXZhbHVl';
  const r = await runCli(['token', 'inspect', garbage, '--config', config]);
  assert.equal(r.code, 1);
  const out = JSON.parse(r.stdout) as Printed;
  assert.equal(out.header, null);
  assert.equal(out.claims, null);
  assert.equal(out.verified, false);
  assert.equal(out.code, 'GH_TOKEN_MALFORMED');
  assert.match(out.decodeError ?? '', /not a decodable JWT/);
  assert.ok(!(r.stdout + r.stderr).includes(garbage), 'token echoed');
});

test('reads the token from stdin with -, and verifies against a JWKS endpoint', async (t) => {
  const signer = await createDemoSigner();
  const jwks = await startJwksServer(signer.jwks.keys as unknown as Record<string, unknown>[]);
  t.after(() => jwks.close());
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-inspect-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const config = join(dir, 'jwks.yaml');
  await writeFile(
    config,
    `security:\n  jwt:\n    issuer: urn:gatehouse:demo-issuer\n    audience: demo-api\n    jwksUri: ${jwks.uri}\n    algorithms: [ES256]\n    requireTyp: at+jwt\nroutes:\n  - path: /api\n    upstream: http://127.0.0.1:9001\n`,
  );
  const token = await signer.mint({ sub: 'bob', scope: 'orders:read' });
  const r = await runCli(['token', 'inspect', '-', '--config', config], { input: `${token}\n` });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const out = JSON.parse(r.stdout) as Printed;
  assert.equal(out.verified, true);
  assert.equal(out.header?.typ, 'at+jwt');
  assert.equal(out.claims?.sub, 'bob');
});

test('an unusable config is reported like config check, exit 1', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-inspect-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const config = join(dir, 'bad.yaml');
  await writeFile(config, 'routes: []\nbogus: 1\n');
  const r = await runCli(['token', 'inspect', 'a.b.c', '--config', config]);
  assert.equal(r.code, 1);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /bad\.yaml:2:1 unknown key 'bogus'\n/, 'at the key, not its value');
  assert.match(r.stderr, /bad\.yaml:1:9 routes: /, 'the empty route list is reported too');
});
