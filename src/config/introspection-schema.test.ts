import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from '../errors.js';
import { parseConfigText } from './load.js';

const BASE = `
security:
  introspection:
    issuer: http://127.0.0.1:8081
    clientId: gatehouse
    clientSecret: \${GATEWAY_SECRET}
    audience: urn:demo:api
routes:
  - path: /api
    upstream: http://127.0.0.1:9001
    auth: [jwt, opaque]
`;

function issuesOf(text: string, env: NodeJS.ProcessEnv = { GATEWAY_SECRET: 's3cret' }) {
  try {
    parseConfigText(text, env);
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.issues;
  }
  assert.fail('expected a ConfigError');
}

test('security.introspection parses with defaults and the secret from the environment', () => {
  const cfg = parseConfigText(BASE.replace('auth: [jwt, opaque]', 'auth: opaque'), { GATEWAY_SECRET: 's3cret' });
  const i = cfg.security.introspection;
  assert.ok(i);
  assert.equal(i.clientSecret, 's3cret');
  assert.equal(i.cacheMaxAge, 30);
  assert.equal(i.inactiveCacheMaxAge, 5);
  assert.equal(i.timeoutMs, 3000);
  assert.equal(i.cacheMaxEntries, 10000);
  assert.deepEqual(cfg.routes[0]?.auth, 'opaque');
});

test('a route using opaque needs security.introspection', () => {
  const issues = issuesOf(`
routes:
  - path: /api
    upstream: http://127.0.0.1:9001
    auth: opaque
`);
  assert.deepEqual(
    issues.map((i) => [i.path, i.message]),
    [['routes.0.auth', 'route requires opaque but security.introspection is not configured']],
  );
});

test('a route accepting jwt and opaque needs both sections', () => {
  const issues = issuesOf(BASE);
  assert.deepEqual(issues.map((i) => i.message), ['route requires jwt but security.jwt is not configured']);
});

test('introspection needs an endpoint or an issuer, and refuses plain http off loopback', () => {
  const noWhere = issuesOf(BASE.replace('    issuer: http://127.0.0.1:8081\n', '').replace('[jwt, opaque]', 'opaque'));
  assert.deepEqual(noWhere.map((i) => [i.path, i.message]), [['security.introspection', 'one of endpoint or issuer (for discovery) is required']]);
  const plain = issuesOf(BASE.replace('http://127.0.0.1:8081', 'http://as.example.com').replace('[jwt, opaque]', 'opaque'));
  assert.deepEqual(plain.map((i) => i.path), ['security.introspection.issuer']);
});

test('cache durations accept duration strings', () => {
  const cfg = parseConfigText(
    BASE.replace('[jwt, opaque]', 'opaque').replace('audience: urn:demo:api', 'audience: urn:demo:api\n    cacheMaxAge: 2s\n    inactiveCacheMaxAge: 500ms'),
    { GATEWAY_SECRET: 's3cret' },
  );
  assert.equal(cfg.security.introspection?.cacheMaxAge, 2);
  assert.equal(cfg.security.introspection?.inactiveCacheMaxAge, 0.5);
});
