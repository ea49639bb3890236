import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { GatehouseError, type ErrorCode } from '../../errors.js';
import {
  b64,
  forgeHs256WithPublicKey,
  forgeToken,
  generateTestKey,
  mintToken,
  signCompact,
  signRawPayload,
  startJwksServer,
  testIssuerOptions,
  type JwksServer,
  type TestKey,
} from '../../../test/helpers/jwt.js';
import { createTokenVerifier } from './verifier.js';
import type { TokenVerifier } from './options.js';

const ISS = 'https://issuer.test';
const NOW = 1_800_000_000; // seconds; the verifier's clock is pinned here

async function rejects(p: Promise<unknown>, code: ErrorCode, message?: string): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof GatehouseError, `expected GatehouseError, got ${String(err)}`);
    assert.equal(err.code, code, `code for "${err.message}"`);
    if (message !== undefined) assert.equal(err.message, message);
    return true;
  });
}

describe('createTokenVerifier against a real JWKS endpoint', () => {
  const keys: Record<string, TestKey> = {};
  let jwks: JwksServer;
  let verifier: TokenVerifier;
  const claims = { iss: ISS, aud: 'api', sub: 'alice' };

  before(async () => {
    for (const alg of ['RS256', 'PS256', 'ES256', 'EdDSA'] as const) keys[alg] = generateTestKey(alg);
    jwks = await startJwksServer(Object.values(keys));
    verifier = createTokenVerifier([testIssuerOptions({ jwksUri: jwks.uri, audience: ['api', 'other'] })], {
      now: () => NOW * 1000,
    });
    await verifier.ready;
    // A failed signature re-fetches the JWKS once per cooldown (tested in jwks/remote.test.ts). Spent here,
    // and never again on the pinned clock: every test below, run alone or in order, sees forgeries refused synchronously.
    await rejects(verifier.verify(forgeToken({ alg: 'RS256', kid: keys.RS256!.kid }, { ...claims, exp: NOW + 60 })), 'GH_TOKEN_INVALID', 'signature invalid');
  });
  after(async () => {
    verifier.close();
    await jwks.close();
  });

  for (const alg of ['RS256', 'PS256', 'ES256', 'EdDSA'] as const) {
    test(`${alg}: a valid token maps to an identity`, async () => {
      const token = mintToken(
        keys[alg]!,
        { ...claims, client_id: 'web', scope: 'orders:read orders:write', scp: ['admin'], jti: 'j1' },
        { nowSeconds: NOW },
      );
      const id = await verifier.verify(token);
      assert.equal(id.source, 'jwt');
      assert.equal(id.issuer, ISS);
      assert.equal(id.subject, 'alice');
      assert.equal(id.clientId, 'web');
      assert.deepEqual([...id.scopes].sort(), ['admin', 'orders:read', 'orders:write']);
      assert.equal(id.expiresAt, NOW + 300);
      assert.equal(id.tokenId, 'j1');
      assert.equal(id.accessToken, token);
      assert.ok(Object.isFrozen(id.claims));
      // Cached identities are shared by later requests with the token: application code cannot widen them.
      assert.throws(() => (id.scopes as Set<string>).add('root'), TypeError);
      assert.throws(() => (id.scopes as Set<string>).clear(), TypeError);
      await verifier.verify(token); // stored at its second sight
      const again = await verifier.verify(token);
      assert.deepEqual([...again.scopes].sort(), ['admin', 'orders:read', 'orders:write']);
    });

    test(`${alg}: a tampered payload fails the signature`, async () => {
      const token = mintToken(keys[alg]!, claims, { nowSeconds: NOW });
      const [h, , s] = token.split('.');
      const forged = `${h}.${b64(JSON.stringify({ ...claims, sub: 'mallory', exp: NOW + 300 }))}.${s}`;
      await rejects(verifier.verify(forged), 'GH_TOKEN_INVALID', 'signature invalid');
      // Replayed: the same answer (now from the rejected-token list).
      await rejects(verifier.verify(forged), 'GH_TOKEN_INVALID', 'signature invalid');
      // Each a caller's own error, which error helpers may annotate (http-errors sets `expose`).
      const errors = await Promise.all([verifier.verify(forged).catch((e: unknown) => e), verifier.verify(forged).catch((e: unknown) => e)]);
      assert.notEqual(errors[0], errors[1]);
      for (const e of errors) {
        assert.ok(!Object.isFrozen(e));
        (e as { expose?: boolean }).expose = true;
        assert.equal((e as { expose?: boolean }).expose, true);
      }
    });
  }

  test('a token never seen before is decided without a promise once the keys are loaded, and cached', () => {
    const token = mintToken(keys.RS256!, { ...claims, jti: 'sync-fresh' }, { nowSeconds: NOW });
    const first = verifier.verifySync!(token);
    assert.ok(first !== undefined && !(first instanceof GatehouseError));
    assert.equal(first.subject, 'alice');
    // The second verification stores it (see SecondSightFilter); the third answer comes from the cache, as the same object.
    const second = verifier.verifySync!(token);
    assert.ok(second !== undefined && !(second instanceof GatehouseError) && second !== first);
    assert.equal(verifier.verifySync!(token), second);
  });

  test('a cached token and a copy forged in one character, sent alternately, are each answered for themselves', async () => {
    const token = mintToken(keys.RS256!, { ...claims, jti: 'alternate' }, { nowSeconds: NOW });
    const sig = token.lastIndexOf('.') + 10;
    const forged = token.slice(0, sig) + (token[sig] === 'A' ? 'B' : 'A') + token.slice(sig + 1);
    verifier.verifySync!(token);
    const cached = verifier.verifySync!(token);
    assert.ok(cached !== undefined && !(cached instanceof GatehouseError));
    // The verifier remembers the key of the last token it hashed: it must never answer for the next one.
    for (let i = 0; i < 3; i++) {
      const refused = verifier.verifySync!(forged);
      assert.ok(refused instanceof GatehouseError, `forgery accepted on pass ${i}`);
      assert.equal(refused.message, 'signature invalid');
      assert.equal(verifier.verifySync!(token), cached);
      await rejects(verifier.verify(forged), 'GH_TOKEN_INVALID', 'signature invalid');
      assert.equal(await verifier.verify(token), cached);
    }
  });

  test('a genuine token respelled in its signature (same bytes, non-zero unused bits) is refused, not accepted as a new token', async () => {
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const token = mintToken(keys.RS256!, { ...claims, jti: 'respelled' }, { nowSeconds: NOW });
    const respelled = token.slice(0, -1) + alphabet[alphabet.indexOf(token.at(-1)!) + 1];
    const signature = (t: string) => Buffer.from(t.slice(t.lastIndexOf('.') + 1), 'base64url');
    assert.deepEqual(signature(respelled), signature(token), 'a lenient decoder sees the same signature');
    assert.equal((await verifier.verify(token)).subject, 'alice');
    await rejects(verifier.verify(respelled), 'GH_TOKEN_MALFORMED', 'token is not base64url encoded');
  });

  test('before the keys have loaded, verifySync leaves the token to verify, which waits for them', async () => {
    const fresh = createTokenVerifier([testIssuerOptions({ jwksUri: jwks.uri, audience: 'api' })], { now: () => NOW * 1000 });
    try {
      const token = mintToken(keys.ES256!, claims, { nowSeconds: NOW });
      assert.equal(fresh.isReady(), false);
      assert.equal(fresh.verifySync!(token), undefined);
      assert.equal((await fresh.verify(token)).subject, 'alice');
    } finally {
      fresh.close();
    }
  });

  test('azp stands in for client_id; scp may be a string', async () => {
    const id = await verifier.verify(mintToken(keys.ES256!, { ...claims, azp: 'spa', scp: 'a b' }, { nowSeconds: NOW }));
    assert.equal(id.clientId, 'spa');
    assert.deepEqual([...id.scopes].sort(), ['a', 'b']);
  });

  test('aud may be an array naming one accepted audience', async () => {
    await verifier.verify(mintToken(keys.RS256!, { ...claims, aud: ['x', 'other'] }, { nowSeconds: NOW }));
    await rejects(verifier.verify(mintToken(keys.RS256!, { ...claims, aud: ['x', 'y'] }, { nowSeconds: NOW })), 'GH_TOKEN_INVALID', 'audience not accepted');
    // Every member a string (RFC 7519 §4.1.3): a malformed array is refused even when one member matches.
    await rejects(verifier.verify(mintToken(keys.RS256!, { ...claims, aud: [123, null, 'other'] }, { nowSeconds: NOW })), 'GH_TOKEN_INVALID', 'audience not accepted');
  });

  describe('every bad token is refused with its code', () => {
    const rsa = () => keys.RS256!;
    const cases: [string, () => string, ErrorCode, string?][] = [
      ['garbage', () => 'not-a-token.at.all!', 'GH_TOKEN_MALFORMED'],
      ['two segments', () => 'abc.def', 'GH_TOKEN_MALFORMED'],
      ['bad base64 in header', () => `e*J.${b64('{}')}.sig`, 'GH_TOKEN_MALFORMED'],
      ['header is not JSON', () => `${b64('{not json')}.${b64('{}')}.c2ln`, 'GH_TOKEN_MALFORMED'],
      ['payload is not JSON, signed', () => signRawPayload({ alg: 'RS256', kid: rsa().kid }, 'nope', rsa()), 'GH_TOKEN_MALFORMED', 'token payload is not a JSON object'],
      ['payload is a JSON array, signed', () => signRawPayload({ alg: 'RS256', kid: rsa().kid }, '[1]', rsa()), 'GH_TOKEN_MALFORMED', 'token payload is not a JSON object'],
      // A forgery is refused for its signature before its claims are read at all.
      ['payload is not JSON, forged', () => `${b64(`{"alg":"RS256","kid":"${rsa().kid}"}`)}.${b64('nope')}.c2ln`, 'GH_TOKEN_INVALID', 'signature invalid'],
      ['alg none', () => forgeToken({ alg: 'none' }, { ...claims, exp: NOW + 60 }), 'GH_TOKEN_INVALID', 'algorithm not allowed'],
      ['alg None', () => forgeToken({ alg: 'None' }, { ...claims, exp: NOW + 60 }), 'GH_TOKEN_INVALID', 'algorithm not allowed'],
      ['alg NONE with a signature', () => forgeToken({ alg: 'NONE' }, { ...claims, exp: NOW + 60 }, 'c2ln'), 'GH_TOKEN_INVALID', 'algorithm not allowed'],
      ['alg nOnE', () => forgeToken({ alg: 'nOnE', kid: rsa().kid }, { ...claims, exp: NOW + 60 }), 'GH_TOKEN_INVALID', 'algorithm not allowed'],
      ['HS256 signed with the RSA public key', () => forgeHs256WithPublicKey(rsa(), { ...claims, exp: NOW + 60 }), 'GH_TOKEN_INVALID', 'algorithm not allowed'],
      ['alg missing', () => forgeToken({ kid: rsa().kid }, { ...claims, exp: NOW + 60 }, 'c2ln'), 'GH_TOKEN_INVALID', 'algorithm not allowed'],
      ['alg not in the allow-list (RS512)', () => signCompact({ alg: 'RS512', kid: rsa().kid }, { ...claims, exp: NOW + 60 }, rsa()), 'GH_TOKEN_INVALID', 'algorithm not allowed'],
      ['embedded jwk header', () => mintToken(rsa(), claims, { nowSeconds: NOW, header: { jwk: rsa().publicJwk } }), 'GH_TOKEN_INVALID', 'embedded key headers are not accepted'],
      ['jku header', () => mintToken(rsa(), claims, { nowSeconds: NOW, header: { jku: 'https://evil.test/jwks' } }), 'GH_TOKEN_INVALID', 'embedded key headers are not accepted'],
      ['x5u header', () => mintToken(rsa(), claims, { nowSeconds: NOW, header: { x5u: 'https://evil.test/cert' } }), 'GH_TOKEN_INVALID', 'embedded key headers are not accepted'],
      ['x5c header', () => mintToken(rsa(), claims, { nowSeconds: NOW, header: { x5c: ['AAAA'] } }), 'GH_TOKEN_INVALID', 'embedded key headers are not accepted'],
      ['crit header', () => mintToken(rsa(), claims, { nowSeconds: NOW, header: { crit: ['exp'] } }), 'GH_TOKEN_INVALID', 'unsupported critical header'],
      ['ES256 signature of zeros', () => forgeToken({ alg: 'ES256', kid: keys.ES256!.kid }, { ...claims, exp: NOW + 60 }, Buffer.alloc(64)), 'GH_TOKEN_INVALID', 'signature invalid'],
      ['ES256 signature of the wrong length', () => forgeToken({ alg: 'ES256', kid: keys.ES256!.kid }, { ...claims, exp: NOW + 60 }, Buffer.alloc(70, 1)), 'GH_TOKEN_INVALID', 'signature invalid'],
      ['EdDSA signature of zeros', () => forgeToken({ alg: 'EdDSA', kid: keys.EdDSA!.kid }, { ...claims, exp: NOW + 60 }, Buffer.alloc(64)), 'GH_TOKEN_INVALID', 'signature invalid'],
      ['RS256 signature empty', () => forgeToken({ alg: 'RS256', kid: rsa().kid }, { ...claims, exp: NOW + 60 }), 'GH_TOKEN_INVALID', 'signature invalid'],
      ['kid of another algorithm\'s key', () => signCompact({ alg: 'RS256', kid: keys.ES256!.kid }, { ...claims, exp: NOW + 60 }, rsa()), 'GH_TOKEN_INVALID', 'algorithm not allowed for this key'],
      ['kid not a string', () => mintToken(rsa(), claims, { nowSeconds: NOW, kid: 7 as unknown as string }), 'GH_TOKEN_MALFORMED'],
      ['expired', () => mintToken(rsa(), { ...claims, exp: NOW - 1 }, { nowSeconds: NOW - 600 }), 'GH_TOKEN_EXPIRED', 'token expired'],
      ['expiring exactly now', () => mintToken(rsa(), { ...claims, exp: NOW }, { nowSeconds: NOW - 60 }), 'GH_TOKEN_EXPIRED', 'token expired'],
      ['not yet valid', () => mintToken(rsa(), { ...claims, nbf: NOW + 60 }, { nowSeconds: NOW }), 'GH_TOKEN_INVALID', 'token not yet valid'],
      ['issued in the future', () => mintToken(rsa(), { ...claims, iat: NOW + 60 }, { nowSeconds: NOW }), 'GH_TOKEN_INVALID', 'token issued in the future'],
      ['missing exp', () => mintToken(rsa(), claims, { nowSeconds: NOW, expiresInSeconds: null }), 'GH_TOKEN_INVALID', 'token has no expiry'],
      ['exp not a number', () => mintToken(rsa(), { ...claims, exp: `${NOW + 60}` }, { nowSeconds: NOW }), 'GH_TOKEN_INVALID', 'exp claim is not a number'],
      ['wrong iss', () => mintToken(rsa(), { ...claims, iss: 'https://evil.test' }, { nowSeconds: NOW }), 'GH_TOKEN_INVALID', 'issuer not accepted'],
      ['missing iss', () => mintToken(rsa(), { ...claims, iss: undefined }, { nowSeconds: NOW }), 'GH_TOKEN_INVALID', 'issuer not accepted'],
      ['wrong aud', () => mintToken(rsa(), { ...claims, aud: 'billing' }, { nowSeconds: NOW }), 'GH_TOKEN_INVALID', 'audience not accepted'],
      ['missing aud', () => mintToken(rsa(), { ...claims, aud: undefined }, { nowSeconds: NOW }), 'GH_TOKEN_INVALID', 'audience not accepted'],
      ['sender-constrained (cnf)', () => mintToken(rsa(), { ...claims, cnf: { jkt: 'DhC7f19MVULWqVK8Jv34XMG8PB_EqjZE5FF7YxWgHPg' } }, { nowSeconds: NOW }), 'GH_TOKEN_INVALID', 'sender-constrained tokens are not accepted'],
      ['sub not a string', () => mintToken(rsa(), { ...claims, sub: 42 }, { nowSeconds: NOW }), 'GH_TOKEN_INVALID', 'sub claim is not a string'],
      ['unknown kid', () => mintToken(rsa(), claims, { nowSeconds: NOW, kid: 'nobody' }), 'GH_TOKEN_INVALID', 'unknown signing key'],
      ['signed by a key not in the JWKS', () => mintToken(generateTestKey('ES256', keys.ES256!.kid), claims, { nowSeconds: NOW }), 'GH_TOKEN_INVALID', 'signature invalid'],
    ];
    for (const [name, make, code, message] of cases) {
      test(name, async () => {
        await rejects(verifier.verify(make()), code, message);
      });
      test(`${name} (synchronous path: the same refusal, returned)`, () => {
        const result = verifier.verifySync!(make());
        if (result === undefined) {
          // Only a kid the JWKS may yet bring is left to the asynchronous path.
          assert.equal(name, 'unknown kid');
          return;
        }
        assert.ok(result instanceof GatehouseError, `expected GatehouseError, got ${JSON.stringify(result)}`);
        assert.equal(result.code, code, `code for "${result.message}"`);
        if (message !== undefined) assert.equal(result.message, message);
      });
    }

    test('refusals carry no stack trace (cheap to build on a path attackers drive)', async () => {
      const forged = forgeToken({ alg: 'ES256', kid: keys.ES256!.kid }, { ...claims, exp: NOW + 60, jti: 'stackless' }, Buffer.alloc(64, 7));
      for (const token of [forged, 'x.y.z', mintToken(rsa(), { ...claims, exp: NOW - 100 }, { nowSeconds: NOW - 200 })]) {
        await assert.rejects(verifier.verify(token), (e: Error) => e instanceof GatehouseError && !/\n\s+at /.test(e.stack ?? ''));
      }
      // The global limit is restored afterwards.
      assert.ok(Error.stackTraceLimit > 0);
    });

    test('the error message never echoes the token', async () => {
      const token = mintToken(rsa(), { ...claims, aud: 'billing' }, { nowSeconds: NOW });
      await assert.rejects(verifier.verify(token), (err: Error) => !err.message.includes(token.split('.')[1]!));
    });

    test('a valid token still verifies after all that', async () => {
      await verifier.verify(mintToken(rsa(), claims, { nowSeconds: NOW }));
    });
  });
});

describe('claim rules and the clock', () => {
  let jwks: JwksServer;
  const key = generateTestKey('RS256');
  before(async () => {
    jwks = await startJwksServer([key]);
  });
  after(() => jwks.close());

  test('clock skew tolerates exp, nbf and iat within the skew, not beyond', async () => {
    let now = NOW * 1000;
    const v = createTokenVerifier([testIssuerOptions({ jwksUri: jwks.uri, clockSkew: 30 })], { now: () => now, cacheMaxEntries: 0 });
    try {
      const token = mintToken(key, { iss: ISS, aud: 'api', nbf: NOW + 20, iat: NOW + 20, exp: NOW + 100 });
      await v.verify(token);
      now = (NOW + 129) * 1000;
      await v.verify(token);
      now = (NOW + 130) * 1000;
      await rejects(v.verify(token), 'GH_TOKEN_EXPIRED');
      now = (NOW - 11) * 1000;
      await rejects(v.verify(token), 'GH_TOKEN_INVALID', 'token not yet valid');
    } finally {
      v.close();
    }
  });

  test('maxTokenAge refuses old tokens and tokens without iat', async () => {
    const v = createTokenVerifier([testIssuerOptions({ jwksUri: jwks.uri, maxTokenAge: 60 })], { now: () => NOW * 1000 });
    try {
      await v.verify(mintToken(key, { iss: ISS, aud: 'api' }, { nowSeconds: NOW - 60 }));
      await rejects(v.verify(mintToken(key, { iss: ISS, aud: 'api' }, { nowSeconds: NOW - 61 })), 'GH_TOKEN_EXPIRED', 'token too old');
      await rejects(v.verify(mintToken(key, { iss: ISS, aud: 'api', iat: undefined }, { nowSeconds: NOW })), 'GH_TOKEN_INVALID', 'token has no iat claim');
    } finally {
      v.close();
    }
  });

  test('maxTokenAge holds for a cached token too: the cache entry lapses when the token grows too old, before its exp', async () => {
    let now = NOW * 1000;
    const hits: boolean[] = [];
    const v = createTokenVerifier([testIssuerOptions({ jwksUri: jwks.uri, maxTokenAge: 60 })], {
      now: () => now,
      hooks: { onCacheLookup: (hit) => hits.push(hit) },
    });
    try {
      const token = mintToken(key, { iss: ISS, aud: 'api', exp: NOW + 3600 }, { nowSeconds: NOW });
      for (let i = 0; i < 3; i++) await v.verify(token); // stored at the second verification, a hit at the third
      assert.equal(hits.at(-1), true, 'served from the cache');
      now = (NOW + 60) * 1000;
      await v.verify(token);
      now = (NOW + 61) * 1000;
      await rejects(v.verify(token), 'GH_TOKEN_EXPIRED', 'token too old');
      assert.equal(v.verifySync?.(token) instanceof GatehouseError, true, 'the synchronous path refuses it too');
    } finally {
      v.close();
    }
  });

  test('requireTyp accepts at+jwt in either spelling and any case, and nothing else', async () => {
    const v = createTokenVerifier([testIssuerOptions({ jwksUri: jwks.uri, requireTyp: 'at+jwt' })], { now: () => NOW * 1000 });
    try {
      const c = { iss: ISS, aud: 'api' };
      await v.verify(mintToken(key, c, { nowSeconds: NOW, header: { typ: 'at+jwt' } }));
      await v.verify(mintToken(key, c, { nowSeconds: NOW, header: { typ: 'application/AT+JWT' } }));
      await rejects(v.verify(mintToken(key, c, { nowSeconds: NOW, header: { typ: 'JWT' } })), 'GH_TOKEN_INVALID', 'token type not accepted');
      await rejects(v.verify(mintToken(key, c, { nowSeconds: NOW, header: { typ: undefined } })), 'GH_TOKEN_INVALID', 'token type not accepted');
    } finally {
      v.close();
    }
  });

  test('a token without kid uses the only key that fits, and is refused when several fit', async () => {
    const second = generateTestKey('RS256');
    const one = createTokenVerifier([testIssuerOptions({ jwksUri: jwks.uri })], { now: () => NOW * 1000 });
    const jwks2 = await startJwksServer([key, second]);
    const two = createTokenVerifier([testIssuerOptions({ jwksUri: jwks2.uri })], { now: () => NOW * 1000 });
    try {
      const token = mintToken(key, { iss: ISS, aud: 'api' }, { nowSeconds: NOW, kid: null });
      await one.verify(token);
      await rejects(two.verify(token), 'GH_TOKEN_INVALID', 'token has no kid and several keys match');
    } finally {
      one.close();
      two.close();
      await jwks2.close();
    }
  });

  test('the issuer is chosen by iss among several, each with its own keys and audiences', async () => {
    const other = generateTestKey('ES256');
    const jwks2 = await startJwksServer([other]);
    const v = createTokenVerifier(
      [
        testIssuerOptions({ jwksUri: jwks.uri }),
        testIssuerOptions({ issuer: 'https://second.test', jwksUri: jwks2.uri, audience: 'billing', algorithms: ['ES256'] }),
      ],
      { now: () => NOW * 1000 },
    );
    try {
      await v.verify(mintToken(key, { iss: ISS, aud: 'api' }, { nowSeconds: NOW }));
      await v.verify(mintToken(other, { iss: 'https://second.test', aud: 'billing' }, { nowSeconds: NOW }));
      // The second issuer's key cannot vouch for the first issuer.
      await rejects(v.verify(mintToken(other, { iss: ISS, aud: 'api' }, { nowSeconds: NOW })), 'GH_TOKEN_INVALID', 'unknown signing key');
      await rejects(v.verify(mintToken(other, { iss: 'https://second.test', aud: 'api' }, { nowSeconds: NOW })), 'GH_TOKEN_INVALID', 'audience not accepted');
    } finally {
      v.close();
      await jwks2.close();
    }
  });

  test('the fully-specified Ed25519 algorithm, from a JWK published with alg Ed25519', async () => {
    const ed = generateTestKey('EdDSA');
    const jwksEd = await startJwksServer([{ ...ed.publicJwk, alg: 'Ed25519' }]);
    const v = createTokenVerifier([testIssuerOptions({ jwksUri: jwksEd.uri, algorithms: ['Ed25519'] })], { now: () => NOW * 1000 });
    try {
      const c = { iss: ISS, aud: 'api', exp: NOW + 60 };
      assert.equal((await v.verify(signCompact({ alg: 'Ed25519', kid: ed.kid }, c, ed))).issuer, ISS);
      // The JWK names Ed25519: the token cannot pick EdDSA for it.
      await rejects(v.verify(signCompact({ alg: 'EdDSA', kid: ed.kid }, c, ed)), 'GH_TOKEN_INVALID', 'algorithm not allowed');
    } finally {
      v.close();
      await jwksEd.close();
    }
  });

  test('a cache size out of range is refused at construction, before any key source opens (none is left fetching)', async () => {
    const own = await startJwksServer([key]);
    try {
      for (const bad of [2.5, -1, Infinity, 8_589_934_592]) {
        assert.throws(() => createTokenVerifier([testIssuerOptions({ jwksUri: own.uri })], { cacheMaxEntries: bad }), /cacheMaxEntries must be a whole number from 0 to 1000000/);
      }
      const good = createTokenVerifier([testIssuerOptions({ jwksUri: own.uri })], { cacheMaxEntries: 1_000_000 });
      await good.ready;
      good.close();
      assert.equal(own.fetchCount, 1, 'only the verifier that was built fetched');
    } finally {
      await own.close();
    }
  });

  test('a duplicate issuer or a remote http JWKS URI is refused at construction', () => {
    assert.throws(() => createTokenVerifier([testIssuerOptions({ jwksUri: jwks.uri }), testIssuerOptions({ jwksUri: jwks.uri })]), /configured twice/);
    assert.throws(() => createTokenVerifier([testIssuerOptions({ jwksUri: 'http://auth.example.com/jwks' })]), /https/);
  });
});
