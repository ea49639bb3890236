/**
 * The catalog of bad bearer JWTs at the gateway: each one through the real
 * gateway (a real JWKS endpoint, a real upstream) with its status, error code,
 * RFC 6750 challenge and problem+json body, asked three times (the answer must
 * not change once a cache has seen it), never forwarded, never echoed or
 * logged; and the gateway still serving afterwards. docs/jwt-verification.md
 * lists the checks and messages; gateway-auth.test.ts covers the other ways a
 * credential goes wrong (no token, other schemes, several headers, scopes).
 */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, before, test } from 'node:test';
import type { ErrorCode } from '../../src/errors.js';
import { call, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import {
  b64,
  forgeHs256WithPublicKey,
  forgeToken,
  generateTestKey,
  mintToken,
  signRawPayload,
  startJwksServer,
  testIssuerOptions,
  type JwksServer,
  type TestKey,
} from '../helpers/jwt.js';
import { startEchoUpstream, type EchoUpstream } from '../helpers/upstream.js';

const ISS = 'https://issuer.test';
const REALM = 'bad-tokens';
const SKEW_SECONDS = 30;

let upstream: EchoUpstream;
let jwks: JwksServer;
let rsa: TestKey;
let ec: TestKey;
let t: TestGateway;

before(async () => {
  upstream = await startEchoUpstream();
  rsa = generateTestKey('RS256');
  ec = generateTestKey('ES256');
  jwks = await startJwksServer([rsa, ec]);
  t = await startTestGateway({
    security: {
      jwt: testIssuerOptions({ issuer: ISS, jwksUri: jwks.uri, algorithms: ['RS256', 'ES256'], clockSkew: SKEW_SECONDS }),
      realm: REALM,
    },
    routes: [{ path: '/api', upstream: upstream.url }],
  });
});

after(async () => {
  await t.close();
  await upstream.close();
  await jwks.close();
});

const now = () => Math.floor(Date.now() / 1000);
const claims = () => ({ iss: ISS, aud: 'api', sub: 'mallory', scope: 'orders:read', exp: now() + 300 });

/** HS256 over `header.payload` with arbitrary key bytes as the secret. */
function hs256(secret: Buffer | string, kid: string): string {
  const input = `${b64(JSON.stringify({ alg: 'HS256', typ: 'JWT', kid }))}.${b64(JSON.stringify(claims()))}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}

interface BadToken {
  readonly name: string;
  readonly token: () => string;
  readonly code: ErrorCode;
  /** The refusal's message: the challenge's error_description and the body's detail. */
  readonly description: string;
}

const INVALID = 'GH_TOKEN_INVALID';
const header = (key: TestKey, extra: Record<string, unknown> = {}) => ({ alg: key.alg, typ: 'JWT', kid: key.kid, ...extra });

const CATALOG: readonly BadToken[] = [
  // Keys that travel with the token (RFC 8725 §3.10): refused, not ignored, whoever signed.
  ...(['jwk', 'jku', 'x5u', 'x5c'] as const).flatMap((name): BadToken[] => {
    const value = () =>
      name === 'jwk' ? generateTestKey('ES256').publicJwk : name === 'x5c' ? ['MIIBkTCB+wIJAKHBfpegPjMCMA0GCSqGSIb3DQEBCwUAMBExDzANBgNVBAMMBnVudXNlZDAeFw0='] : 'https://evil.example/keys';
    return [
      {
        name: `embedded ${name}, signed by the attacker's own key`,
        token: () => {
          const attacker = generateTestKey('ES256');
          return mintToken(attacker, claims(), { header: { [name]: name === 'jwk' ? attacker.publicJwk : value() } });
        },
        code: INVALID,
        description: 'embedded key headers are not accepted',
      },
      {
        name: `embedded ${name} on a genuinely signed token`,
        token: () => mintToken(rsa, claims(), { header: { [name]: value() } }),
        code: INVALID,
        description: 'embedded key headers are not accepted',
      },
    ];
  }),
  // CVE-2022-21449 ("psychic signatures"): r = s = 0 passed Java's ECDSA check for any message.
  {
    name: 'ES256 with an all-zero signature (r = s = 0)',
    token: () => forgeToken(header(ec), claims(), Buffer.alloc(64)),
    code: INVALID,
    description: 'signature invalid',
  },
  {
    name: 'ES256 with an all-zero signature and no kid',
    token: () => forgeToken({ alg: 'ES256', typ: 'JWT' }, claims(), Buffer.alloc(64)),
    code: INVALID,
    description: 'signature invalid',
  },
  {
    name: 'a genuine ES256 signature with s zeroed',
    token: () => {
      const [h, p, s] = mintToken(ec, claims()).split('.') as [string, string, string];
      const sig = Buffer.from(s, 'base64url');
      sig.fill(0, 32);
      return `${h}.${p}.${sig.toString('base64url')}`;
    },
    code: INVALID,
    description: 'signature invalid',
  },
  {
    name: `not yet valid: nbf beyond the clock skew`,
    token: () => mintToken(rsa, { ...claims(), nbf: now() + SKEW_SECONDS + 90 }),
    code: INVALID,
    description: 'token not yet valid',
  },
  {
    name: 'no exp',
    token: () => mintToken(rsa, { iss: ISS, aud: 'api', sub: 'mallory' }, { expiresInSeconds: null }),
    code: INVALID,
    description: 'token has no expiry',
  },
  ...['not json', '[1,2,3]', '"a string"', 'null', '42', '{"iss":'].map(
    (text): BadToken => ({
      name: `a genuinely signed payload that is not a JSON object: ${text}`,
      token: () => signRawPayload(header(rsa), text, rsa),
      code: 'GH_TOKEN_MALFORMED',
      description: 'token payload is not a JSON object',
    }),
  ),
  // alg none, with and without a signature: never in an allow-list, in any casing.
  ...['none', 'None', 'NONE', 'nOnE'].flatMap((alg): BadToken[] => [
    {
      name: `alg ${alg}, empty signature`,
      token: () => forgeToken({ alg, typ: 'JWT' }, claims()),
      code: INVALID,
      description: 'algorithm not allowed',
    },
    {
      name: `alg ${alg}, with a signature`,
      token: () => forgeToken({ alg, typ: 'JWT', kid: rsa.kid }, claims(), Buffer.alloc(32, 1)),
      code: INVALID,
      description: 'algorithm not allowed',
    },
  ]),
  // Key confusion: the RSA public key, which anyone can fetch, as an HMAC secret.
  { name: 'HS256 keyed with the RSA public key PEM', token: () => forgeHs256WithPublicKey(rsa, claims()), code: INVALID, description: 'algorithm not allowed' },
  {
    name: 'HS256 keyed with the RSA public key DER (SPKI)',
    token: () => hs256(rsa.publicKey!.export({ format: 'der', type: 'spki' }), rsa.kid),
    code: INVALID,
    description: 'algorithm not allowed',
  },
  {
    name: 'HS256 keyed with the RSA public key JWK as published',
    token: () => hs256(JSON.stringify(rsa.publicJwk), rsa.kid),
    code: INVALID,
    description: 'algorithm not allowed',
  },
  {
    name: 'wrong iss (genuinely signed)',
    token: () => mintToken(rsa, { ...claims(), iss: 'https://evil.example' }),
    code: INVALID,
    description: 'issuer not accepted',
  },
  { name: 'wrong aud', token: () => mintToken(rsa, { ...claims(), aud: 'other-api' }), code: INVALID, description: 'audience not accepted' },
  {
    name: 'wrong aud in an array',
    token: () => mintToken(rsa, { ...claims(), aud: ['other-api', 'billing'] }),
    code: INVALID,
    description: 'audience not accepted',
  },
  {
    name: 'expired beyond the clock skew',
    token: () => mintToken(ec, { ...claims(), exp: now() - SKEW_SECONDS - 60 }),
    code: 'GH_TOKEN_EXPIRED',
    description: 'token expired',
  },
];

/** Every bad token sent, so the log and body checks can look for each. */
const sent: string[] = [];

for (const bad of CATALOG) {
  test(`${bad.name}: 401 ${bad.code}, "${bad.description}"`, async () => {
    const token = bad.token();
    sent.push(token);
    const forwarded = upstream.received.length;
    for (let i = 0; i < 3; i++) {
      const res = await call(`${t.gw.url}/api/orders`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(res.status, 401, res.text);
      assert.equal(res.headers['content-type'], 'application/problem+json');
      assert.equal(
        res.headers['www-authenticate'],
        `Bearer realm="${REALM}", error="invalid_token", error_description="${bad.description}"`,
        `attempt ${i + 1}`,
      );
      const body = res.json<{ code: string; status: number; detail: string; type: string }>();
      assert.deepEqual({ code: body.code, status: body.status, detail: body.detail }, { code: bad.code, status: 401, detail: bad.description });
      assert.equal(body.type, `urn:gatehouse:error:${bad.code}`);
      for (const part of token.split('.').filter((p) => p.length > 8)) assert.ok(!res.text.includes(part), 'no part of the token in the body');
    }
    assert.equal(upstream.received.length, forwarded, 'nothing reached the upstream');
  });
}

test('after the whole catalog: no bad token in the logs, auth outcomes counted, and a valid token still passes', async () => {
  assert.equal(sent.length, CATALOG.length, 'the catalog ran first (this test reads what it sent)');
  const text = t.logText();
  for (const token of sent) {
    for (const part of token.split('.').filter((p) => p.length > 8)) assert.ok(!text.includes(part), 'no part of a bad token in the logs');
  }
  const metrics = await t.metrics.registry.metrics();
  assert.match(metrics, /gatehouse_auth_outcomes_total\{route="\/api",outcome="GH_TOKEN_INVALID"\} [1-9]/);
  assert.match(metrics, /gatehouse_auth_outcomes_total\{route="\/api",outcome="GH_TOKEN_MALFORMED"\} [1-9]/);
  assert.match(metrics, /gatehouse_auth_outcomes_total\{route="\/api",outcome="GH_TOKEN_EXPIRED"\} [1-9]/);
  for (const key of [rsa, ec]) {
    const res = await call(`${t.gw.url}/api/orders`, { headers: { authorization: `Bearer ${mintToken(key, { ...claims(), sub: 'alice' })}` } });
    assert.equal(res.status, 200, res.text);
    assert.equal(upstream.received.at(-1)?.path, '/api/orders');
  }
});
