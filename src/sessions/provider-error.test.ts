import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as oidc from 'openid-client';
import { captureLog as capture } from '../../test/helpers/log-capture.js';
import { createLogger } from '../log.js';
import { classify } from './oidc-client.js';
import { isClientRejected, leftCodeUnspent, ProviderError, ProviderFailureLog } from './provider-error.js';

const bodyError = (status: number, body: { error: string; error_description?: string }) =>
  new oidc.ResponseBodyError('server responded with an error in the response body', { cause: body, response: new Response(null, { status }) });

test('classify: the provider refusing the gateway\'s client is client_rejected, apart from an outage; the answer stays 503 on refresh', () => {
  for (const err of [
    bodyError(401, { error: 'invalid_client', error_description: 'client authentication failed' }),
    bodyError(400, { error: 'unauthorized_client' }),
    bodyError(401, { error: 'something_else' }),
    new oidc.WWWAuthenticateChallengeError('challenge', { cause: [{ scheme: 'basic', parameters: { realm: 'idp' } }], response: new Response(null, { status: 401 }) }),
  ]) {
    const e = classify(err, 'refresh');
    assert.equal(e.code, 'GH_PROVIDER_UNAVAILABLE');
    assert.ok(isClientRejected(e), String(err));
    assert.equal((e as ProviderError).facts.httpStatus, (err as { status: number }).status);
  }
  const login = classify(bodyError(401, { error: 'invalid_client' }), 'login') as ProviderError;
  assert.equal(login.code, 'GH_LOGIN_FAILED');
  assert.deepEqual(login.facts, { call: 'login', kind: 'client_rejected', httpStatus: 401, oauthError: 'invalid_client' });

  const outage = classify(bodyError(503, { error: 'temporarily_unavailable' }), 'refresh') as ProviderError;
  assert.deepEqual(outage.facts, { call: 'refresh', kind: 'server_error', httpStatus: 503, oauthError: 'temporarily_unavailable' });
  assert.equal(isClientRejected(outage), false);
  const refused = classify(bodyError(400, { error: 'invalid_grant' }), 'refresh') as ProviderError;
  assert.equal(refused.code, 'GH_SESSION_EXPIRED');
  assert.equal(refused.facts.kind, 'grant_refused');
  const timeout = classify(new DOMException('timed out', 'TimeoutError'), 'refresh') as ProviderError;
  assert.deepEqual(timeout.facts, { call: 'refresh', kind: 'timeout' });
  // How openid-client reports its own timeout: an outage at login too, not a failed login.
  const loginTimeout = classify(Object.assign(new oidc.ClientError('operation timed out', { cause: new DOMException('timed out', 'TimeoutError') }), { code: 'OAUTH_TIMEOUT' }), 'login') as ProviderError;
  assert.equal(loginTimeout.code, 'GH_PROVIDER_UNAVAILABLE');
  assert.deepEqual(loginTimeout.facts, { call: 'login', kind: 'timeout' });
  const refusedConn = classify(new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) }), 'refresh') as ProviderError;
  assert.deepEqual(refusedConn.facts, { call: 'refresh', kind: 'unreachable', reason: 'ECONNREFUSED' });
  // A code that is not a plain OAuth word is not repeated.
  const odd = classify(bodyError(400, { error: 'eyJhbGciOiJub25lIn0 and more' }), 'refresh') as ProviderError;
  assert.equal(odd.facts.oauthError, undefined);
});

test('ProviderFailureLog: warn with call, outcome, OAuth code and status; a shared error once; one line per kind every 5 s, counting the rest', () => {
  const c = capture();
  let now = 0;
  const log = new ProviderFailureLog(createLogger('info', c.stream), () => now);
  const rejected = () => classify(bodyError(401, { error: 'invalid_client', error_description: 'secret s3cr3t wrong' }), 'refresh');
  const shared = rejected();
  log.report(shared, 'r1');
  log.report(shared, 'r2'); // another request that waited on the same refresh
  assert.equal(c.lines().length, 1);
  const [line] = c.lines();
  assert.equal(line?.level, 'warn');
  assert.equal(line?.call, 'refresh');
  assert.equal(line?.outcome, 'client_rejected');
  assert.equal(line?.oauthError, 'invalid_client');
  assert.equal(line?.httpStatus, 401);
  assert.equal(line?.answered, 'GH_PROVIDER_UNAVAILABLE');
  assert.equal(line?.requestId, 'r1');
  assert.ok(!JSON.stringify(c.lines()).includes('s3cr3t'), 'the provider\'s text is not logged');

  now = 1000;
  log.report(rejected());
  log.report(rejected());
  log.report(classify(new DOMException('timed out', 'TimeoutError'), 'refresh'));
  assert.deepEqual(c.lines().map((l) => l.outcome), ['client_rejected', 'timeout'], 'another kind is logged at once');
  now = 6000;
  log.report(rejected());
  assert.equal(c.lines().at(-1)?.notLoggedSince, 2);
  log.report(new Error('not a provider failure'));
  assert.equal(c.lines().length, 3);
});

test('leftCodeUnspent: a callback may be retried after discovery failed, the token endpoint was unreachable or answered 5xx; not after a timeout (the code may be spent) or a refusal', () => {
  const unreachable = new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) });
  assert.equal(leftCodeUnspent(classify(unreachable, 'login')), true);
  assert.equal(leftCodeUnspent(classify(bodyError(503, { error: 'temporarily_unavailable' }), 'login')), true);
  assert.equal(leftCodeUnspent(new ProviderError('GH_PROVIDER_UNAVAILABLE', 'identity provider discovery failed', { call: 'discovery', kind: 'timeout' })), true);
  const timeout = Object.assign(new oidc.ClientError('operation timed out', { cause: new DOMException('timed out', 'TimeoutError') }), { code: 'OAUTH_TIMEOUT' });
  assert.equal(leftCodeUnspent(classify(timeout, 'login')), false);
  assert.equal(leftCodeUnspent(classify(bodyError(400, { error: 'invalid_grant' }), 'login')), false);
  assert.equal(leftCodeUnspent(new Error('anything else')), false);
});
