import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { packageRoot } from './config/docs.js';
import {
  asGatehouseError,
  ConfigError,
  ERROR_CATALOG,
  GatehouseError,
  InsufficientScope,
  isChallengeRealm,
  isScopeToken,
  problemDetails,
  wwwAuthenticate,
  type ErrorCode,
} from './errors.js';

interface DocEntry {
  code: string;
  status: string;
  body: string;
}

function documentedEntries(): DocEntry[] {
  const text = readFileSync(join(packageRoot(), 'docs/errors.md'), 'utf8');
  return text
    .split(/^### /m)
    .slice(1)
    .map((section) => {
      const code = /^`([A-Z0-9_]+)`/.exec(section)?.[1] ?? assert.fail(`bad heading: ${section.split('\n')[0]}`);
      const status = /^- \*\*Status:\*\* (\S+?)[\s,.]/m.exec(section)?.[1] ?? '';
      return { code, status, body: section };
    });
}

test('every catalog code is documented in docs/errors.md with its status, cause and advice', () => {
  const docs = new Map(documentedEntries().map((e) => [e.code, e]));
  for (const [code, spec] of Object.entries(ERROR_CATALOG)) {
    const entry = docs.get(code);
    assert.ok(entry, `${code} is not documented in docs/errors.md`);
    assert.equal(entry.status, String(spec.status), `${code}: docs say ${entry.status}, catalog says ${spec.status}`);
    assert.match(entry.body, /^- \*\*When:\*\* \S/m, `${code}: no "When" line`);
    assert.match(entry.body, /^- \*\*Client:\*\* \S/m, `${code}: no "Client" line`);
    if ('bearerError' in spec) assert.ok(entry.body.includes(`error="${spec.bearerError}"`), `${code}: challenge not described`);
  }
});

test('docs/errors.md names no code that no longer exists, and none twice', () => {
  const known = new Set<string>([...Object.keys(ERROR_CATALOG), new ConfigError([]).code]);
  const seen = new Set<string>();
  for (const { code } of documentedEntries()) {
    assert.ok(known.has(code), `docs/errors.md documents ${code}, which is not in ERROR_CATALOG`);
    assert.ok(!seen.has(code), `${code} is documented twice`);
    seen.add(code);
  }
});

test('a GatehouseError takes status, title and bearer error from the catalog', () => {
  for (const code of Object.keys(ERROR_CATALOG) as ErrorCode[]) {
    const err = new GatehouseError(code, 'x');
    assert.equal(err.status, ERROR_CATALOG[code].status);
    assert.equal(err.title, ERROR_CATALOG[code].title);
    assert.equal(err.bearerError, (ERROR_CATALOG[code] as { bearerError?: string }).bearerError);
    assert.ok(err instanceof Error);
  }
});

test('wwwAuthenticate: no error attribute when no credential was sent', () => {
  assert.equal(wwwAuthenticate(new GatehouseError('GH_TOKEN_MISSING', 'no token'), 'gatehouse'), 'Bearer realm="gatehouse"');
  assert.equal(wwwAuthenticate(undefined, 'api'), 'Bearer realm="api"');
});

test('wwwAuthenticate: invalid_token with its description', () => {
  assert.equal(
    wwwAuthenticate(new GatehouseError('GH_TOKEN_EXPIRED', 'token expired'), 'gatehouse'),
    'Bearer realm="gatehouse", error="invalid_token", error_description="token expired"',
  );
  assert.equal(
    wwwAuthenticate(new GatehouseError('GH_BAD_CREDENTIAL_REQUEST', 'several Authorization headers'), 'gatehouse'),
    'Bearer realm="gatehouse", error="invalid_request", error_description="several Authorization headers"',
  );
});

test('wwwAuthenticate: insufficient_scope carries the required scopes', () => {
  const header = wwwAuthenticate(new InsufficientScope(['orders:read', 'orders:write']), 'gatehouse');
  assert.equal(
    header,
    'Bearer realm="gatehouse", error="insufficient_scope", error_description="requires scope orders:read orders:write", scope="orders:read orders:write"',
  );
  // A claim mismatch is also insufficient_scope, but has no scope list to name.
  assert.doesNotMatch(wwwAuthenticate(new GatehouseError('GH_CLAIM_MISMATCH', 'claim'), 'r'), /scope=/);
});

test('wwwAuthenticate writes only what RFC 6750 allows in an attribute: control characters, quotes, backslashes and non-ASCII become ?', () => {
  const header = wwwAuthenticate(new GatehouseError('GH_TOKEN_INVALID', 'bad "kid" \\ here\r\nX-Injected: 1'), 'my "realm"');
  assert.equal(header, 'Bearer realm="my ?realm?", error="invalid_token", error_description="bad ?kid? ? here??X-Injected: 1"');
  // A claim name is a JSON member name, any Unicode: Node's writeHead throws on a character above U+00FF.
  const claim = wwwAuthenticate(new GatehouseError('GH_CLAIM_MISMATCH', "claim https://example.jp/ロール does not meet the route's requirement"), 'Bestellungen – Dienst');
  assert.equal(claim, 'Bearer realm="Bestellungen ? Dienst", error="insufficient_scope", error_description="claim https://example.jp/??? does not meet the route\'s requirement"');
  const scope = wwwAuthenticate(new InsufficientScope(['orders→write', 'é']), 'r');
  assert.match(scope, /scope="orders\?write \?"$/);
  for (const h of [header, claim, scope]) assert.match(h, /^[\x20-\x7e]+$/);
});

test('isScopeToken: RFC 6749 §3.3 scope-tokens only; isChallengeRealm: printable ASCII without " or \\', () => {
  for (const ok of ['orders:read', 'a', 'https://api.example.com/orders.read', "!#$%&'()*+,-./:;<=>?@[]^_`{|}~"]) assert.equal(isScopeToken(ok), true, ok);
  for (const bad of ['', 'read write', 'orders→write', 'a"b', 'a\\b', 'tab\there', 7, undefined, ['a']]) assert.equal(isScopeToken(bad), false, String(bad));
  for (const ok of ['gatehouse', 'Orders service', '', 'a=b, c']) assert.equal(isChallengeRealm(ok), true, ok);
  for (const bad of ['Bestellungen – Dienst', 'my "realm"', 'a\\b', 'line\n', 7, null]) assert.equal(isChallengeRealm(bad), false, String(bad));
});

test('problemDetails: RFC 9457 body with the stable code, request id only when given', () => {
  const err = new GatehouseError('GH_UPSTREAM_TIMEOUT', 'upstream did not answer in time');
  assert.deepEqual(problemDetails(err), {
    type: 'urn:gatehouse:error:GH_UPSTREAM_TIMEOUT',
    title: 'Upstream timeout',
    status: 504,
    code: 'GH_UPSTREAM_TIMEOUT',
    detail: 'upstream did not answer in time',
  });
  assert.deepEqual(problemDetails(new InsufficientScope(['a']), 'req-1'), {
    type: 'urn:gatehouse:error:GH_INSUFFICIENT_SCOPE',
    title: 'Insufficient scope',
    status: 403,
    code: 'GH_INSUFFICIENT_SCOPE',
    detail: 'requires scope a',
    requestId: 'req-1',
  });
});

test('asGatehouseError hides internals behind GH_INTERNAL', () => {
  const secret = new Error('ECONNREFUSED redis://:hunter2@10.0.0.5');
  const wrapped = asGatehouseError(secret);
  assert.equal(wrapped.code, 'GH_INTERNAL');
  assert.equal(wrapped.status, 500);
  assert.equal(wrapped.message, 'internal error');
  assert.equal(wrapped.cause, secret);
  assert.doesNotMatch(JSON.stringify(problemDetails(wrapped)), /hunter2/);
  const own = new GatehouseError('GH_TOKEN_INVALID', 'x');
  assert.equal(asGatehouseError(own), own);
});

test('ConfigError lists every issue with line, column and path', () => {
  const err = new ConfigError(
    [
      { path: 'listen.port', message: 'Too big', line: 3, column: 9 },
      { path: '', message: 'cannot read file: ENOENT' },
    ],
    'gw.yaml',
  );
  assert.equal(err.code, 'GH_CONFIG_INVALID');
  assert.equal(err.message, 'invalid configuration in gw.yaml:\n  - line 3:9 listen.port: Too big\n  - cannot read file: ENOENT');
});
