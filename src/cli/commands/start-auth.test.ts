import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { CliProcess } from '../../../test/helpers/cli.js';
import { freePort } from '../../../test/helpers/ports.js';

async function startEcho(t: { after(fn: () => Promise<void>): void }): Promise<string> {
  const server: Server = createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ path: req.url, client: req.headers['x-client-id'] ?? null }));
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

async function clientCredentials(issuer: string, id: string, secret: string, resource: string): Promise<string> {
  const res = await fetch(`${issuer}/token`, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}` },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'api:read', resource }),
  });
  const body = (await res.json()) as { access_token?: string };
  assert.equal(res.status, 200, JSON.stringify(body));
  return body.access_token as string;
}

test('start with an auth section runs the authorization service in the same process; its JWT and opaque tokens pass the gateway', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-start-auth-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const upstream = await startEcho(t);
  const issuer = `http://127.0.0.1:${await freePort()}`;
  const env = {
    SERVICE_SECRET: randomBytes(24).toString('base64url'),
    GATEWAY_SECRET: randomBytes(24).toString('base64url'),
    COOKIE_KEY: randomBytes(32).toString('base64url'),
  };
  const file = join(dir, 'gatehouse.yaml');
  await writeFile(
    file,
    `listen: { host: 127.0.0.1, port: 0 }
admin: { enabled: false }
shutdown: { drainTimeoutMs: 1000 }
auth:
  issuer: ${issuer}
  listen: { host: 127.0.0.1, port: ${new URL(issuer).port} }
  store: { kind: sqlite, path: oidc.sqlite }
  usersPath: users.sqlite
  signing: { keysPath: keys.json }
  cookieKeys: ['\${COOKIE_KEY}']
  resources:
    - { indicator: https://api.test, accessTokenFormat: jwt, scopes: [api:read] }
    - { indicator: https://opaque.test, accessTokenFormat: opaque, scopes: [api:read] }
  clients:
    - { clientId: svc, clientSecret: '\${SERVICE_SECRET}', grantTypes: [client_credentials], scopes: [api:read], resources: [https://api.test, https://opaque.test] }
    - { clientId: gateway, clientSecret: '\${GATEWAY_SECRET}', grantTypes: [client_credentials], scopes: [api:read] }
security:
  jwt: { issuer: ${issuer}, audience: https://api.test, jwksUri: ${issuer}/jwks, algorithms: [ES256], requireTyp: at+jwt }
  introspection: { issuer: ${issuer}, clientId: gateway, clientSecret: '\${GATEWAY_SECRET}', audience: https://opaque.test }
routes:
  - { path: /api, upstream: ${upstream}, auth: [jwt, opaque], scopes: [api:read], propagate: { headers: { clientId: x-client-id } } }
`,
  );
  const cli = new CliProcess(['start', '--config', file], { env });
  t.after(() => cli.stop());
  // The service logs its own start, before the gateway's.
  const served = await cli.waitForLine('stdout', /"msg":"serving /);
  const serviceLine = cli.stdout.split('\n').findIndex((l) => l.includes(`"issuer":"${issuer}"`));
  assert.ok(serviceLine >= 0 && serviceLine < served.index, 'the authorization service started first');
  const { url } = JSON.parse(served.line) as { url: string };
  await cli.waitForLine('stdout', /"msg":"ready: every key source has loaded"/);

  for (const resource of ['https://api.test', 'https://opaque.test']) {
    const token = await clientCredentials(issuer, 'svc', env.SERVICE_SECRET, resource);
    const res = await fetch(`${url}/api/x`, { headers: { authorization: `Bearer ${token}` } });
    const body = await res.text();
    assert.equal(res.status, 200, `${resource}: ${body}`);
    assert.equal((JSON.parse(body) as { client: string }).client, 'svc');
  }
  const refused = await fetch(`${url}/api/x`, { headers: { authorization: 'Bearer not-issued-here' } });
  assert.equal(refused.status, 401);
  assert.equal(((await refused.json()) as { code: string }).code, 'GH_TOKEN_INACTIVE');

  cli.child.kill('SIGTERM');
  assert.deepEqual(await cli.exited, { code: 0, signal: null });
  // Both listeners are gone with the process.
  await assert.rejects(fetch(`${issuer}/.well-known/openid-configuration`));
});
