import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfigText } from '../config/load.js';
import { ConfigError } from '../errors.js';
import { AuthServiceSchema } from './config-schema.js';

const base = {
  issuer: 'http://127.0.0.1:8081',
  store: { kind: 'sqlite', path: 'oidc.sqlite' },
  usersPath: 'users.sqlite',
  signing: { keysPath: 'keys.json' },
  cookieKeys: ['c'.repeat(32)],
  resources: [{ indicator: 'https://api.example.com', scopes: ['api:read'] }],
};
const client = { clientId: 'svc', clientSecret: 's'.repeat(20), grantTypes: ['client_credentials'], scopes: ['api:read'], resources: ['https://api.example.com'] };

function issues(input: unknown): string[] {
  const r = AuthServiceSchema.safeParse(input);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
}

test('defaults: ES256, 5-minute access tokens, rotating refresh lifetimes', () => {
  const cfg = AuthServiceSchema.parse({ ...base, clients: [client] });
  assert.equal(cfg.signing.alg, 'ES256');
  assert.equal(cfg.ttl.accessToken, 300);
  assert.equal(cfg.resources[0]?.accessTokenFormat, 'jwt');
  assert.equal(cfg.clients[0]?.firstParty, false);
});

test('a confidential client without a secret, or with a short one, is rejected', () => {
  const { clientSecret: _omit, ...noSecret } = client;
  assert.match(issues({ ...base, clients: [{ ...noSecret, tokenEndpointAuthMethod: 'client_secret_basic' }] }).join('\n'), /clients\.0\.clientSecret: a confidential client needs a secret/);
  assert.match(issues({ ...base, clients: [{ ...client, clientSecret: 'short' }] }).join('\n'), /clients\.0\.clientSecret/);
});

test('public clients: no secret, no client_credentials, redirect URIs for the code flow', () => {
  assert.match(issues({ ...base, clients: [{ ...client, tokenEndpointAuthMethod: 'none' }] }).join('\n'), /public client/);
  const { clientSecret: _s, ...pub } = client;
  assert.match(issues({ ...base, clients: [pub] }).join('\n'), /client_credentials needs a confidential client/);
  assert.match(issues({ ...base, clients: [{ ...pub, grantTypes: ['authorization_code'] }] }).join('\n'), /redirectUris: authorization_code needs/);
});

test('cookie keys are required and long; clients only name configured resources; ids are unique', () => {
  const { cookieKeys: _c, ...noKeys } = base;
  assert.match(issues({ ...noKeys, clients: [client] }).join('\n'), /cookieKeys/);
  assert.match(issues({ ...base, cookieKeys: ['short'] }).join('\n'), /cookieKeys\.0: a cookie key needs at least 32/);
  assert.match(issues({ ...base, clients: [{ ...client, resources: ['https://other.example.com'] }] }).join('\n'), /not a configured resource/);
  assert.match(issues({ ...base, clients: [client, client] }).join('\n'), /duplicate clientId/);
});

test('lifetimes must nest: idle ≤ absolute ≤ grant', () => {
  assert.match(issues({ ...base, ttl: { refreshTokenIdle: '2d', refreshTokenAbsolute: '1d' } }).join('\n'), /ttl\.refreshTokenAbsolute/);
  assert.match(issues({ ...base, ttl: { refreshTokenAbsolute: '60d' } }).join('\n'), /ttl\.grant: must not be shorter/);
});

test('the issuer is a bare origin', () => {
  for (const issuer of ['http://127.0.0.1:8081/', 'https://auth.example.com/oidc', 'https://auth.example.com?x=1']) {
    assert.match(issues({ ...base, issuer }).join('\n'), /issuer: the issuer is an origin/, issuer);
  }
  assert.deepEqual(issues({ ...base, issuer: 'https://auth.example.com' }), []);
});

test('the issuer is https; plain http only on a loopback address', () => {
  for (const issuer of ['http://auth.example.com', 'http://10.0.0.5:8081', 'http://[2001:db8::1]', 'ftp://auth.example.com']) {
    assert.match(issues({ ...base, issuer }).join('\n'), /issuer: the issuer must be an https URL/, issuer);
  }
  for (const issuer of ['http://127.0.0.1:8081', 'http://localhost:8081', 'http://[::1]:8081', 'https://auth.example.com']) {
    assert.deepEqual(issues({ ...base, issuer }), [], issuer);
  }
});

test('lifetimes are whole seconds, at least one (oidc-provider refuses anything else at the first token request)', () => {
  for (const bad of [0, 1.5, '250ms', '0s']) {
    assert.match(issues({ ...base, ttl: { accessToken: bad } }).join('\n'), /ttl\.accessToken: a whole number of seconds/, String(bad));
    assert.match(
      issues({ ...base, resources: [{ ...base.resources[0], accessTokenTtl: bad }] }).join('\n'),
      /resources\.0\.accessTokenTtl: a whole number of seconds/,
      String(bad),
    );
  }
  assert.match(issues({ ...base, ttl: { authorizationCode: '500ms' } }).join('\n'), /ttl\.authorizationCode/);
  const cfg = AuthServiceSchema.parse({ ...base, ttl: { accessToken: '2m', session: 1 }, resources: [{ ...base.resources[0], accessTokenTtl: '1.5m' }] });
  assert.equal(cfg.ttl.accessToken, 120);
  assert.equal(cfg.ttl.session, 1);
  assert.equal(cfg.resources[0]?.accessTokenTtl, 90);
});

test('redirect URIs: https, or plain http only to a loopback address (codes travel in them)', () => {
  const web = { clientId: 'web', clientSecret: 's'.repeat(20), scopes: ['openid'], redirectUris: ['https://app.example.com/cb'] };
  assert.deepEqual(issues({ ...base, clients: [web] }), []);
  assert.deepEqual(issues({ ...base, clients: [{ ...web, redirectUris: ['http://127.0.0.1:9/cb', 'http://localhost/cb', 'http://[::1]:8/cb'] }] }), []);
  const bad = issues({ ...base, clients: [{ ...web, redirectUris: ['https://ok.example.com/cb', 'http://app.example.com/cb'], postLogoutRedirectUris: ['http://10.0.0.2/bye'] }] }).join('\n');
  assert.match(bad, /clients\.0\.redirectUris\.1: must be https, or http on a loopback address/);
  assert.match(bad, /clients\.0\.postLogoutRedirectUris\.0: must be https/);
  assert.doesNotMatch(bad, /redirectUris\.0/);
  assert.match(issues({ ...base, clients: [{ ...web, redirectUris: ['javascript:alert(1)'] }] }).join('\n'), /redirectUris\.0/);
});

test('URLs that do not parse are reported as such, not thrown (config check names them)', () => {
  const web = { clientId: 'web', clientSecret: 's'.repeat(20), scopes: ['openid'], redirectUris: ['not a url'] };
  assert.match(issues({ ...base, clients: [web] }).join('\n'), /clients\.0\.redirectUris\.0: /);
  assert.match(issues({ ...base, issuer: 'not a url' }).join('\n'), /^issuer: /m);
});

test('the config file: an auth section alone is valid; neither routes nor auth is not', () => {
  const text = `auth:
  issuer: http://127.0.0.1:8081
  store: { kind: redis, url: "redis://127.0.0.1:6379" }
  usersPath: users.sqlite
  signing: { keysPath: keys.json, alg: EdDSA, rotationDelay: 10m }
  cookieKeys: ["\${COOKIE_KEY}"]
  resources: [{ indicator: "https://api.example.com", accessTokenFormat: opaque, scopes: [api:read], accessTokenTtl: 2m }]
  clients:
    - { clientId: svc, clientSecret: "\${SVC_SECRET}", grantTypes: [client_credentials], scopes: [api:read], resources: ["https://api.example.com"] }
`;
  const cfg = parseConfigText(text, { COOKIE_KEY: 'k'.repeat(40), SVC_SECRET: 'x'.repeat(24) });
  assert.equal(cfg.auth?.signing.rotationDelay, 600);
  assert.equal(cfg.auth?.resources[0]?.accessTokenTtl, 120);
  assert.equal(cfg.auth?.store.kind === 'redis' && cfg.auth.store.keyPrefix, 'gatehouse:auth:');
  assert.deepEqual(cfg.routes, []);
  assert.throws(() => parseConfigText(text, { COOKIE_KEY: 'k'.repeat(40) }), (err: ConfigError) => err.issues.some((i) => /SVC_SECRET/.test(i.message)));
  assert.throws(() => parseConfigText('logging: { level: info }\n', {}), (err: ConfigError) => err.issues.some((i) => i.path === 'routes'));
});

test('login.window: zero (or under a second) is refused, not a rate limit that never counts', () => {
  for (const window of [0, '0s', '500ms']) {
    assert.match(issues({ ...base, login: { window } }).join('\n'), /login\.window: at least 1s/, String(window));
  }
  assert.equal(AuthServiceSchema.parse({ ...base, login: { window: '1s' } }).login.window, 1);
});

test('URIs oidc-provider refuses at every request are refused here: fragments in resource indicators and redirect URIs', () => {
  const withFragment = issues({
    ...base,
    resources: [{ indicator: 'https://api.example.com/#frag', scopes: ['api:read'] }],
    clients: [{ ...client, resources: ['https://api.example.com/#frag'] }],
  }).join('\n');
  assert.match(withFragment, /resources\.0\.indicator: a resource indicator has no fragment \(RFC 8707 §2\)/);
  const web = { clientId: 'web', clientSecret: 's'.repeat(20), scopes: ['openid'], redirectUris: ['https://app.example.com/cb#x'], postLogoutRedirectUris: ['https://app.example.com/bye#'] };
  const bad = issues({ ...base, clients: [web] }).join('\n');
  assert.match(bad, /clients\.0\.redirectUris\.0: a redirect URI has no fragment \(RFC 6749 §3\.1\.2\)/);
  assert.match(bad, /clients\.0\.postLogoutRedirectUris\.0: a redirect URI has no fragment/);
});

test('a client with refresh_token but not authorization_code is refused: it could never be issued a refresh token', () => {
  const rtOnly = { clientId: 'rt', clientSecret: 's'.repeat(20), grantTypes: ['refresh_token'], scopes: ['openid'] };
  assert.match(issues({ ...base, clients: [rtOnly] }).join('\n'), /clients\.0\.grantTypes: refresh_token needs authorization_code/);
  const both = { ...rtOnly, grantTypes: ['authorization_code', 'refresh_token'], redirectUris: ['https://app.example.com/cb'] };
  assert.deepEqual(issues({ ...base, clients: [both] }), []);
});
