import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, test } from 'node:test';
import * as oidc from 'openid-client';
import { startTestAuthService, TEST_REDIRECT_URI, type TestAuthService } from '../../test/helpers/auth-service.js';

/** A GET with headers fetch would not send (Host); resolves status, headers and body. */
function get(base: string, path: string, headers: Record<string, string>): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(new URL(path, base), { headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

const FOREIGN = { host: 'evil.example', 'x-forwarded-host': 'evil2.example', 'x-forwarded-proto': 'http' };

/** Every URL-valued member of a discovery document. */
function endpointsOf(doc: Record<string, unknown>): string[] {
  return Object.entries(doc)
    .filter(([k, v]) => typeof v === 'string' && (k.endsWith('_endpoint') || k === 'jwks_uri'))
    .map(([, v]) => v as string);
}

async function authorizeStart(base: string, clientId: string): Promise<{ status: number; cookies: string[] }> {
  const challenge = await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier());
  const query = new URLSearchParams({
    client_id: clientId,
    response_type: 'code',
    redirect_uri: TEST_REDIRECT_URI,
    scope: 'openid api:read',
    code_challenge: challenge,
    code_challenge_method: 'S256',
  });
  const res = await get(base, `/auth?${query}`, {});
  const setCookie = res.headers['set-cookie'];
  return { status: res.status, cookies: Array.isArray(setCookie) ? setCookie : setCookie ? [setCookie] : [] };
}

describe('the service answers for its issuer origin, whatever the request says', () => {
  let https: TestAuthService;
  let local: TestAuthService;
  before(async () => {
    // Served over plain HTTP on loopback, as behind a TLS terminator, with an https issuer.
    https = await startTestAuthService({ overrides: { issuer: 'https://auth.gatehouse.test' } });
    local = await startTestAuthService();
  });
  after(() => Promise.all([https.close(), local.close()]));

  test('https issuer behind TLS termination: discovery advertises https endpoints on the issuer host, also for a foreign Host or X-Forwarded-*', async () => {
    for (const headers of [{}, FOREIGN]) {
      const res = await get(https.service.url, '/.well-known/openid-configuration', headers);
      assert.equal(res.status, 200);
      const doc = JSON.parse(res.body) as Record<string, unknown>;
      assert.equal(doc.issuer, 'https://auth.gatehouse.test');
      const urls = endpointsOf(doc);
      assert.ok(urls.length >= 5, urls.join(' '));
      for (const url of urls) assert.ok(url.startsWith('https://auth.gatehouse.test/'), url);
    }
  });

  test('https issuer: the login-flow cookies are Secure and HttpOnly', async () => {
    const { status, cookies } = await authorizeStart(https.service.url, https.clients.web.clientId);
    assert.equal(status, 303);
    const named = cookies.filter((c) => /^_(interaction|interaction_resume)(\.sig)?=/.test(c) && !/expires=Thu, 01 Jan 1970/i.test(c));
    assert.ok(named.length >= 1, cookies.join('\n'));
    for (const c of named) {
      assert.match(c, /;\s*secure/i, c);
      assert.match(c, /;\s*httponly/i, c);
    }
  });

  test('loopback http issuer: a foreign Host does not become the endpoints host', async () => {
    const res = await get(local.service.url, '/.well-known/openid-configuration', FOREIGN);
    const doc = JSON.parse(res.body) as Record<string, unknown>;
    for (const url of endpointsOf(doc)) assert.ok(url.startsWith(`${local.issuer}/`), url);
    const { cookies } = await authorizeStart(local.service.url, local.clients.web.clientId);
    assert.ok(cookies.length >= 1);
    // Plain http on loopback: a Secure cookie would never come back.
    for (const c of cookies) assert.doesNotMatch(c, /;\s*secure/i, c);
  });
});
