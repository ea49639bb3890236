import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from '../errors.js';
import { assertUsableIssuerOptions } from '../tokens/jwt/options.js';
import { parseConfigText, validateConfig } from './load.js';
import { configuredIssuers } from './schema.js';

const SEED_JWT_SECTION = `
security:
    jwt:
        issuer: https://auth.example.com
        audience: api-users
        publicKey: /path/to/public.key
        algorithms: [RS256]
routes:
  - path: /api/orders
    upstream: http://127.0.0.1:9001
    auth: jwt
    scopes: [orders:read]
`;

test('the seed JWT section parses verbatim', () => {
  const cfg = parseConfigText(SEED_JWT_SECTION, {});
  assert.ok(cfg.security.jwt && !Array.isArray(cfg.security.jwt));
  assert.equal(cfg.security.jwt.issuer, 'https://auth.example.com');
  assert.equal(cfg.security.jwt.publicKey, '/path/to/public.key');
  assert.deepEqual(cfg.security.jwt.algorithms, ['RS256']);
  assert.equal(cfg.listen.port, 8080);
  assert.equal(cfg.routes[0]?.scopes[0], 'orders:read');
  assert.ok(Object.isFrozen(cfg.routes[0]), 'config is deep-frozen');
});

function issuesOf(text: string, env: NodeJS.ProcessEnv = {}) {
  try {
    parseConfigText(text, env, 'gatehouse.yaml');
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.issues;
  }
  assert.fail('expected a ConfigError');
}

test('unknown keys are errors with line and key path', () => {
  const issues = issuesOf(SEED_JWT_SECTION.replace('    auth: jwt', '    auth: jwt\n    scopez: [x]'));
  assert.equal(issues.length, 1);
  assert.equal(issues[0]?.path, 'routes.0');
  assert.match(issues[0]?.message ?? '', /unknown key 'scopez'/);
  assert.equal(issues[0]?.line, 12);
});

test('an unknown key whose value is a block is reported at the key\'s line and column, not the block\'s', () => {
  const issues = issuesOf(`listen: { host: 127.0.0.1, port: 0 }
security:
  jwt:
    issuer: https://auth.example.com
    audience: api
    secret: "0123456789abcdef0123456789abcdef"
    algorithms: [HS256]
    jwks_typo:

      timeoutMs: 5000
routes:
  - path: /api
    upstream: http://127.0.0.1:1
    propagte:
      - a
`);
  assert.deepEqual(
    issues.map((i) => `${i.line}:${i.column} ${i.path}: ${i.message}`),
    ["8:5 security.jwt: unknown key 'jwks_typo'", "14:5 routes.0: unknown key 'propagte'"],
  );
});

test('every problem is reported, not just the first', () => {
  const issues = issuesOf(`
listen: { port: -1 }
security:
  jwt: { issuer: x, audience: y, algorithms: [none], publicKey: k }
routes:
  - path: nope
    upstream: not-a-url
`);
  const paths = issues.map((i) => i.path);
  assert.ok(paths.includes('listen.port'));
  assert.ok(paths.includes('security.jwt.algorithms.0'));
  assert.ok(paths.includes('routes.0.path'));
  assert.ok(paths.includes('routes.0.upstream'));
});

test('HMAC needs a secret as long as its hash (256 bits for HS256, 512 for HS512) and never mixes with public keys', () => {
  const base = (jwt: string) => `security:\n  jwt: ${jwt}\nroutes: [{ path: /, upstream: "http://127.0.0.1:1" }]\n`;
  assert.match(issuesOf(base('{ issuer: i, audience: a, secret: short, algorithms: [HS256] }'))[0]!.message, /256 bits/);
  const secret48 = 'k'.repeat(48);
  const hs512 = issuesOf(base(`{ issuer: i, audience: a, secret: ${secret48}, algorithms: [HS256, HS512] }`));
  assert.deepEqual(
    hs512.map((i) => [i.path, i.message]),
    [['security.jwt.secret', 'an HMAC secret for HS512 must be at least 512 bits (64 bytes)']],
  );
  assert.match(
    issuesOf(base('{ issuer: i, audience: a, jwksUri: "https://x/jwks", algorithms: [RS256, HS256] }'))[0]!.message,
    /HMAC algorithms need an explicit secret/,
  );
  assert.match(
    issuesOf(base('{ issuer: i, audience: a, secret: "0123456789abcdef0123456789abcdef", publicKey: k, algorithms: [HS256] }'))[0]!.message,
    /exactly one of/,
  );
});

test('${ENV} is interpolated in string values; a missing variable is an error', () => {
  const text = `security:\n  jwt: { issuer: i, audience: a, secret: "\${GH_SECRET}", algorithms: [HS256] }\nroutes: [{ path: /, upstream: "http://127.0.0.1:1" }]\n`;
  const cfg = parseConfigText(text, { GH_SECRET: 'k'.repeat(40) });
  assert.ok(cfg.security.jwt && !Array.isArray(cfg.security.jwt));
  assert.equal(cfg.security.jwt.secret, 'k'.repeat(40));
  const issues = issuesOf(text, {});
  assert.match(issues[0]!.message, /GH_SECRET is not set/);
  assert.equal(issues[0]!.line, 2);
});

test('a ${…} that is not ${NAME} is an error at its line, never kept as text (a secret would be the reference itself); $${ writes a literal ${; references in keys are refused', () => {
  const secretAt = (value: string) => `security:\n  jwt: { issuer: i, audience: a, secret: "${value}", algorithms: [HS256] }\nroutes: [{ path: /, upstream: "http://127.0.0.1:1" }]\n`;
  for (const ref of ['${GH_SECRET:-fallback-secret-of-32-bytes-long!!}', '${GH-SECRET}', '${ GH_SECRET }', '${}', 'abc${GH_SECRET']) {
    const issues = issuesOf(secretAt(ref), {});
    assert.equal(issues.length, 1, ref);
    assert.equal(issues[0]!.path, 'security.jwt.secret', ref);
    assert.equal(issues[0]!.line, 2, ref);
    assert.match(issues[0]!.message, /\$\{NAME\}/, ref);
    assert.doesNotMatch(issues[0]!.message, /fallback/, 'the text inside is not echoed');
  }
  const escaped = parseConfigText(secretAt('$${NOT_A_REF}-0123456789abcdef0123456789'), {});
  assert.ok(escaped.security.jwt && !Array.isArray(escaped.security.jwt));
  assert.equal(escaped.security.jwt.secret, '${NOT_A_REF}-0123456789abcdef0123456789');
  const mixed = parseConfigText(secretAt('$${A}${GH_SECRET}$$x'), { GH_SECRET: 'k'.repeat(40) });
  assert.ok(mixed.security.jwt && !Array.isArray(mixed.security.jwt));
  assert.equal(mixed.security.jwt.secret, `\${A}${'k'.repeat(40)}$$x`, 'only $${ is an escape; a value is inserted as it is');
  const keyRef = `routes:\n  - path: /\n    upstream: "http://127.0.0.1:1"\n    propagate:\n      headers:\n        claims: { "\${TENANT_CLAIM}": x-tenant }\n`;
  const issues = issuesOf(keyRef, { TENANT_CLAIM: 'tenant' });
  assert.equal(issues.length, 1);
  assert.equal(issues[0]!.path, 'routes.0.propagate.headers.claims');
  assert.equal(issues[0]!.line, 6);
  assert.match(issues[0]!.message, /keys/);
});

test('listeners of one process on one port and address are refused (start failed with EADDRINUSE); port 0, other ports, other addresses, a disabled admin listener and the service of an auth-only file pass', () => {
  const routes = [{ path: '/', upstream: 'http://127.0.0.1:9', auth: 'none' }];
  validateConfig({ listen: { port: 9090 }, admin: { enabled: false }, routes });
  const authOnly = validateConfig({
    auth: {
      issuer: 'http://127.0.0.1:8080',
      listen: { port: 8080 },
      store: { kind: 'sqlite', path: 'oidc.sqlite' },
      usersPath: 'users.sqlite',
      signing: { keysPath: 'keys.json' },
      cookieKeys: ['c'.repeat(32)],
      resources: [{ indicator: 'https://api.example.com', scopes: ['api:read'] }],
      clients: [{ clientId: 'svc', clientSecret: 's'.repeat(20), grantTypes: ['client_credentials'], scopes: ['api:read'], resources: ['https://api.example.com'] }],
    },
  });
  assert.equal(authOnly.auth?.listen.port, 8080, 'gatehouse auth start opens only the service');
  assert.throws(() => validateConfig({ listen: { port: 8300 }, admin: { port: 8300 }, routes }), /admin\.port: port 8300 is also listen\.port on the same address/);
  assert.throws(() => validateConfig({ listen: { port: 8300 }, admin: { host: '0.0.0.0', port: 8300 }, routes }), /admin\.port: port 8300 is also listen\.port/);
  validateConfig({ listen: { port: 0 }, admin: { port: 0 }, routes });
  validateConfig({ listen: { port: 8300 }, admin: { port: 8301 }, routes });
  validateConfig({ listen: { port: 8300 }, admin: { host: '127.0.0.2', port: 8300 }, routes });
});

test('issuer labels name one issuer each: a duplicate issuer URL, a duplicate name, or a name that is another issuer\'s URL is refused', () => {
  const iss = (issuer: string, name?: string) => ({ issuer, audience: 'api', jwksUri: `${issuer}/jwks`, algorithms: ['RS256'], ...(name ? { name } : {}) });
  const routes = [{ path: '/', upstream: 'http://127.0.0.1:9' }];
  assert.throws(
    () => validateConfig({ security: { jwt: [iss('https://partner.example.net', 'https://login.example.com'), iss('https://login.example.com')] }, routes }),
    /security\.jwt\.1\.issuer: https:\/\/login\.example\.com also names security\.jwt\.0/,
  );
  assert.throws(() => validateConfig({ security: { jwt: [iss('https://a.example', 'corp'), iss('https://b.example', 'corp')] }, routes }), /security\.jwt\.1\.name: corp also names security\.jwt\.0/);
  assert.throws(() => validateConfig({ security: { jwt: [iss('https://a.example'), iss('https://a.example')] }, routes }), /security\.jwt\.1\.issuer: https:\/\/a\.example also names security\.jwt\.0/);
  validateConfig({ security: { jwt: [iss('https://a.example', 'https://a.example'), iss('https://b.example', 'b')] }, routes });
});

test('YAML syntax errors carry a line', () => {
  const issues = issuesOf('routes:\n  - path: /\n   upstream: [\n');
  assert.ok(issues[0]?.line);
});

test('a YAML syntax error is reported once, with the number of parser errors after it (mostly its echoes); an unquoted ${…} in a flow collection gets a hint', () => {
  const issues = issuesOf('listen: { port: ${PORT} }\nroutes:\n  - path: /\n    upstream: http://127.0.0.1:9\n', { PORT: '8080' });
  assert.equal(issues.length, 1, issues.map((i) => i.message).join('\n'));
  assert.equal(issues[0]!.line, 1);
  assert.match(issues[0]!.message, /more YAML errors after it/);
  assert.match(issues[0]!.message, /quote/);
});

test('two routes the router would match alike are refused: the same path regardless of case and trailing slash, the same host regardless of case and final dot', () => {
  let n = 0;
  const route = (path: string, host?: string) => ({ name: `r${n++}`, path, upstream: 'http://127.0.0.1:9', auth: 'none', ...(host ? { host } : {}) });
  for (const [a, b] of [
    [route('/api/orders'), route('/API/Orders/')],
    [route('/x', 'api.example.com'), route('/x', 'API.example.com.')],
  ] as const) {
    assert.throws(() => validateConfig({ routes: [a, b] }), /routes\.1\.path: matches the same requests as routes\.0/);
  }
  validateConfig({ routes: [route('/x', 'api.example.com'), route('/x', 'web.example.com'), route('/x')] });
});

test('what the schema accepts at its bounds, the verifier core accepts too (config check and start agree)', () => {
  const cfg = validateConfig({
    security: {
      jwt: { issuer: 'https://a.example', audience: 'api', jwksUri: 'https://a.example/jwks', algorithms: ['RS256'], clockSkew: 0, maxTokenAge: 0, jwks: { cacheMaxAge: 1, cooldown: '1s' } },
    },
    routes: [{ path: '/x', upstream: 'http://127.0.0.1:9', auth: 'jwt' }],
  });
  const issuers = configuredIssuers(cfg);
  assert.equal(issuers.length, 1);
  for (const issuer of issuers) assert.doesNotThrow(() => assertUsableIssuerOptions(issuer));
});

test('a route path with an escape the normalizer decodes, or with raw non-ASCII, is refused with the spelling to write', () => {
  const config = (path: string) => `routes:\n  - { path: "${path}", upstream: http://127.0.0.1:9, auth: none }\n`;
  assert.deepEqual(
    issuesOf(config('/users/%40me')).map((i) => [i.path, i.message]),
    [['routes.0.path', 'write the path as /users/@me']],
  );
  assert.deepEqual(
    issuesOf(config('/café/menü')).map((i) => [i.path, i.message]),
    [['routes.0.path', 'write the path percent-encoded, as /caf%C3%A9/men%C3%BC']],
  );
  // %2B stays escaped in requests, so a route holding + would miss that spelling.
  assert.deepEqual(
    issuesOf(config('/a+b')).map((i) => [i.path, i.message]),
    [['routes.0.path', 'may not contain `+`, which requests may also spell %2B']],
  );
});

test('cache sizes beyond 1,000,000 entries are refused with their key path (the caches allocate their index up front)', () => {
  const base = `security:
  jwt: { issuer: https://a.example, audience: api, jwksUri: https://a.example/jwks, algorithms: [RS256] }
  introspection: { endpoint: https://a.example/introspect, clientId: gw, clientSecret: s, audience: api, cacheMaxEntries: 1000001 }
  tokenCache: { maxEntries: 8589934592 }
routes:
  - { path: /x, upstream: http://127.0.0.1:9, auth: jwt }
`;
  const paths = issuesOf(base).map((i) => i.path);
  assert.deepEqual(paths.sort(), ['security.introspection.cacheMaxEntries', 'security.tokenCache.maxEntries']);
  assert.doesNotThrow(() => parseConfigText(base.replace('8589934592', '1000000').replace('1000001', '1000000'), {}, 'gatehouse.yaml'));
});

test('a JWKS cacheMaxAge or cooldown under 1s is refused by the schema and by the core, in the same words (a fetch loop; a fetch per forged kid)', () => {
  const issuer = { issuer: 'https://a.example', audience: 'api', jwksUri: 'https://a.example/jwks', algorithms: ['RS256'] };
  const expected = {
    cacheMaxAge: 'must be at least 1s: a shorter cache age re-fetches the JWKS continuously',
    cooldown: 'must be at least 1s: a shorter cooldown lets every token with an unknown kid or a bad signature trigger a JWKS fetch',
  };
  for (const [key, value, seconds] of [
    ['cacheMaxAge', 0, 0],
    ['cacheMaxAge', '10ms', 0.01],
    ['cooldown', 0, 0],
    ['cooldown', '999ms', 0.999],
  ] as const) {
    const config = { security: { jwt: { ...issuer, jwks: { [key]: value } } }, routes: [{ path: '/x', upstream: 'http://127.0.0.1:9', auth: 'jwt' }] };
    assert.throws(() => validateConfig(config), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.deepEqual(err.issues.map((i) => `${i.path}: ${i.message}`), [`security.jwt.jwks.${key}: ${expected[key]}`]);
      return true;
    }, `${key}: ${value}`);
    const core = { ...issuer, clockSkew: 30, jwks: { timeoutMs: 5000, maxBytes: 524288, cacheMaxAge: 600, cooldown: 30, [key]: seconds } };
    assert.throws(() => assertUsableIssuerOptions(core), { message: `issuer https://a.example: jwks.${key} ${expected[key]}` }, `core ${key}: ${seconds}`);
  }
});

test('the schema and the verifier core refuse the same key settings in the same words (one rule: keySourceProblems)', () => {
  const base = { issuer: 'https://a.example', audience: 'api' };
  for (const settings of [
    { jwksUri: 'https://a.example/jwks', algorithms: ['HS256'] },
    { publicKey: '/etc/gatehouse/issuer.pem', algorithms: ['RS256', 'HS256'] },
    { secret: 'k'.repeat(40), algorithms: ['HS256', 'RS256'] },
    { secret: 'short', algorithms: ['HS256'] },
    { jwksUri: 'https://user:pw@a.example/jwks', algorithms: ['RS256'] },
    { jwksUri: 'http://a.example/jwks', algorithms: ['RS256'] },
    { jwksUri: 'https://a.example/jwks', secret: 'k'.repeat(40), algorithms: ['HS256'] },
  ]) {
    const what = JSON.stringify(settings);
    let schemaWords = '';
    assert.throws(() => validateConfig({ security: { jwt: { ...base, ...settings } }, routes: [{ path: '/x', upstream: 'http://127.0.0.1:9', auth: 'jwt' }] }), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      schemaWords = err.issues.map((i) => (i.path === 'security.jwt' ? i.message : `${i.path.replace(/^security\.jwt\./, '')}: ${i.message}`)).join('; ');
      return true;
    }, what);
    const core = { ...base, ...settings, clockSkew: 30, jwks: { timeoutMs: 5000, maxBytes: 524288, cacheMaxAge: 600, cooldown: 30 } };
    assert.throws(() => assertUsableIssuerOptions(core), { message: `issuer https://a.example: ${schemaWords}` }, what);
  }
});

test('trusted proxies are checked with their line: config check refuses what start would', () => {
  const issues = issuesOf(`trustedProxies: [10.0.0.0/8, 10.0.0.0/33, proxy.internal]
routes:
  - { path: /, upstream: "http://127.0.0.1:9", auth: none }
`);
  assert.deepEqual(
    issues.map((i) => `${i.path}@${i.line}: ${i.message}`),
    ['trustedProxies.1@1: bad prefix length in 10.0.0.0/33', 'trustedProxies.2@1: not an IP address or CIDR: proxy.internal'],
  );
});

test('identity header names must be header names the proxy does not own', () => {
  const issues = issuesOf(`identity:
  stripHeaders: [x-ok, X-Forwarded-For]
  stripPrefixes: ["x user"]
routes:
  - path: /
    upstream: "http://127.0.0.1:9"
    auth: none
    propagate:
      headers: { subject: "Bad Header", issuer: host, scopes: x-scopes, clientId: x_forwarded_for, claims: { email: x-email, tid: Content-Length, org: X.Real.IP } }
      maskedClaims: { header: cookie, claims: [sub] }
`);
  const byPath = Object.fromEntries(issues.map((i) => [i.path, i.message]));
  assert.match(byPath['routes.0.propagate.headers.subject'] ?? '', /an HTTP header name/);
  // Underscore and dot spellings too: a CGI-style upstream reads x_forwarded_for as X-Forwarded-For.
  const owned = ['routes.0.propagate.headers.issuer', 'routes.0.propagate.headers.claims.tid', 'routes.0.propagate.maskedClaims.header', 'identity.stripHeaders.1'];
  owned.push('routes.0.propagate.headers.clientId', 'routes.0.propagate.headers.claims.org');
  for (const path of owned) {
    assert.match(byPath[path] ?? '', /a header the proxy owns/, path);
  }
  assert.match(byPath['identity.stripPrefixes.0'] ?? '', /the start of an HTTP header name/);
  assert.equal(issues.length, 8, JSON.stringify(issues));
});

test('the realm and route scopes are what a challenge can carry: printable ASCII realm without " or \\, scopes as RFC 6749 scope-tokens; claim names stay Unicode', () => {
  const issues = issuesOf(`security:
  realm: "Bestellungen – Dienst"
  jwt: { issuer: https://a.example, audience: api, jwksUri: https://a.example/jwks, algorithms: [RS256] }
routes:
  - path: /a
    upstream: http://127.0.0.1:9
    scopes: ["orders→write", "read write", "ok:scope", 'say"hi"', ""]
    claims: [{ claim: "https://example.jp/ロール", equals: admin }]
`);
  assert.deepEqual(
    issues.map((i) => [i.path, i.message]),
    [
      ['security.realm', 'printable ASCII without `"` or `\\`'],
      ...[0, 1, 3, 4].map((j) => [`routes.0.scopes.${j}`, 'a scope-token: printable ASCII without spaces, `"` or `\\` (RFC 6749 §3.3)']),
    ],
  );
  for (const realm of ['my "realm"', 'back\\slash']) {
    assert.throws(() => validateConfig({ security: { realm }, routes: [{ path: '/', upstream: 'http://127.0.0.1:9', auth: 'none' }] }), /security\.realm/);
  }
  validateConfig({ security: { realm: 'Orders API (v2)' }, routes: [{ path: '/', upstream: 'http://127.0.0.1:9', auth: 'none' }] });
});

test('a route host is a name a Host header can carry: no URL, path, list, space, bare or inner wildcard, or impossible port; a name beyond ASCII is refused with its punycode spelling', () => {
  const config = (host: string) => `routes:\n  - { path: /, upstream: http://127.0.0.1:9, auth: none, host: "${host}" }\n`;
  const refused: [string, RegExp][] = [
    ['bücher.example', /^write the name as the Host header carries it: xn--bcher-kva\.example$/],
    ['*.bücher.example', /: \*\.xn--bcher-kva\.example$/],
    ['https://api.example.com', /^a host name as the Host header carries it .*this is a URL$/],
    ['api.example.com/', /^a host name as the Host header carries it \(`api\.example\.com`, `\*\.example\.com` or `\[::1\]`/],
    ['api.example.com,evil.example', /^a host name as the Host header carries it/],
    ['a b', /^a host name as the Host header carries it/],
    ['*', /^a wildcard is only a leading `\*\.`/],
    ['*example.com', /^a wildcard is only a leading `\*\.`/],
    ['*.*.example.com', /^a wildcard is only a leading `\*\.`/],
    ['*.', /^a host name as the Host header carries it/],
    ['*.[::1]', /not an IP literal/],
    ['api.example.com:99999', /^the port must be 1 to 65535/],
    ['api.example.com:', /^the port must be 1 to 65535/],
    ['', /^empty: leave host out/],
  ];
  for (const [host, message] of refused) {
    const issues = issuesOf(config(host));
    assert.equal(issues.length, 1, `${host}: ${JSON.stringify(issues)}`);
    assert.equal(issues[0]!.path, 'routes.0.host', host);
    assert.match(issues[0]!.message, message, host);
  }
  for (const host of ['api.example.com', 'API.Example.com.', '*.example.com', 'xn--bcher-kva.example', 'api.example.com:8443', '127.0.0.1', '[::1]:8080', 'my_host.internal']) {
    assert.doesNotThrow(() => parseConfigText(config(host), {}), host);
  }
});

test('a strip prefix that starts a header the proxy owns or that frames the message is refused, in every spelling', () => {
  const issues = issuesOf(`identity:
  stripPrefixes: [x-user-, content-, a, X_Forwarded_, pro, x-real, cookie, x-auth-]
routes:
  - { path: /, upstream: "http://127.0.0.1:9", auth: none }
`);
  assert.deepEqual(
    issues.map((i) => [i.path, /would strip (\S+), a header the proxy owns or that frames the message/.exec(i.message)?.[1]]),
    [
      ['identity.stripPrefixes.1', 'content-length'],
      ['identity.stripPrefixes.2', 'authorization'],
      ['identity.stripPrefixes.3', 'x-forwarded-for'],
      ['identity.stripPrefixes.4', 'proxy-*'],
      ['identity.stripPrefixes.5', 'x-real-ip'],
      ['identity.stripPrefixes.6', 'cookie'],
    ],
  );
  // The defaults pass.
  validateConfig({ routes: [{ path: '/', upstream: 'http://127.0.0.1:9', auth: 'none' }] });
});

test('one route injects each identity value under its own header name: a second use of a name (any case, _ or . for -) is refused where it is written', () => {
  const issues = issuesOf(`security:
  jwt: { issuer: https://a.example, audience: api, jwksUri: https://a.example/jwks, algorithms: [RS256] }
routes:
  - path: /p
    upstream: http://127.0.0.1:9
    propagate:
      headers: { subject: x-id, issuer: x-iss, claims: { nickname: X-Id, tenant: x_iss } }
      maskedClaims: { header: x-id, claims: [sub] }
  - path: /q
    upstream: http://127.0.0.1:9
    propagate:
      headers: { subject: x-gatehouse-claims }
      maskedClaims: { claims: [sub] }
  - path: /r
    upstream: http://127.0.0.1:9
    propagate:
      headers: { subject: x-id }
`);
  assert.deepEqual(
    issues.map((i) => [i.path, i.message]),
    [
      ['routes.0.propagate.headers.claims.nickname', 'X-Id is also the header of propagate.headers.subject: each identity value needs its own header (names compare without case, and `_` or `.` as `-`)'],
      ['routes.0.propagate.headers.claims.tenant', 'x_iss is also the header of propagate.headers.issuer: each identity value needs its own header (names compare without case, and `_` or `.` as `-`)'],
      ['routes.0.propagate.maskedClaims.header', 'x-id is also the header of propagate.headers.subject: each identity value needs its own header (names compare without case, and `_` or `.` as `-`)'],
      // The default header of maskedClaims counts too.
      ['routes.1.propagate.maskedClaims.header', 'x-gatehouse-claims is also the header of propagate.headers.subject: each identity value needs its own header (names compare without case, and `_` or `.` as `-`)'],
    ],
  );
});

test('YAML 1.2 only: a %YAML 1.1 directive (merge keys, on/off booleans, sexagesimal numbers) is refused', () => {
  const body = 'listen: { port: 1:30 }\nroutes:\n  - { path: /, upstream: "http://127.0.0.1:9", auth: none }\n';
  const issues = issuesOf(`%YAML 1.1\n---\n${body}`);
  assert.equal(issues.length, 1);
  assert.match(issues[0]?.message ?? '', /only YAML 1\.2 is read, not 1\.1/);
  // Read as 1.2, `1:30` is a string and the port check says so (under 1.1 it became the number 90).
  assert.match(issuesOf(`%YAML 1.2\n---\n${body}`).map((i) => `${i.path}: ${i.message}`).join('\n'), /listen\.port/);
});

test('an alias bomb ("billion laughs") is refused as a config error, at once', () => {
  const levels = ['a: &a [x, x, x, x, x, x, x, x, x]'];
  for (const [prev, name] of [['a', 'b'], ['b', 'c'], ['c', 'd'], ['d', 'e'], ['e', 'f'], ['f', 'g']] as const) {
    levels.push(`${name}: &${name} [${Array(9).fill(`*${prev}`).join(', ')}]`);
  }
  const issues = issuesOf(`${levels.join('\n')}\n`);
  assert.equal(issues.length, 1);
  assert.match(issues[0]?.message ?? '', /cannot be read as values: Excessive alias count/);
});
