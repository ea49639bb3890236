import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { afterEach, describe, test } from 'node:test';
import { GatehouseError, type ErrorCode } from '../../errors.js';
import {
  generateTestKey,
  mintToken,
  startJwksServer,
  testIssuerOptions,
  testKeyFromPrivate,
  type JwksBehaviour,
  type JwksServer,
  type TestKey,
} from '../../../test/helpers/jwt.js';
import { createTokenVerifier } from '../jwt/verifier.js';
import type { TokenVerifier } from '../jwt/options.js';

const ISS = 'https://issuer.test';
const claims = { iss: ISS, aud: 'api', sub: 'alice' };

/** A verifier on a JWKS server with a hand-driven clock and a log of fetch results. */
interface Rig {
  jwks: JwksServer;
  verifier: TokenVerifier;
  fetches: ('ok' | 'error')[];
  /** Reasons reported through onKeySourceError. */
  errors: string[];
  /** What onKeysSkipped reported: keys of a fetch that are not used. */
  skipped: string[];
  /** Token cache lookups reported through onCacheLookup: true for a hit. */
  lookups: boolean[];
  /** Resolves on the next fetch result reported by the verifier. */
  nextFetch(): Promise<'ok' | 'error'>;
  clock: { now: number };
}

const open: Rig[] = [];
afterEach(async () => {
  for (const r of open.splice(0)) {
    r.verifier.close();
    await r.jwks.close();
  }
});

async function rig(
  keys: (TestKey | Record<string, unknown>)[],
  jwksOverrides: Partial<{ timeoutMs: number; maxBytes: number; cacheMaxAge: number; cooldown: number }> = {},
  initial: JwksBehaviour = 'ok',
  cacheMaxEntries?: number,
): Promise<Rig> {
  const jwks = await startJwksServer(keys);
  jwks.setBehaviour(initial);
  const clock = { now: Date.now() };
  const fetches: ('ok' | 'error')[] = [];
  const errors: string[] = [];
  const skipped: string[] = [];
  const lookups: boolean[] = [];
  let waiters: ((r: 'ok' | 'error') => void)[] = [];
  const verifier = createTokenVerifier(
    [
      testIssuerOptions({
        name: 'test-issuer',
        jwksUri: jwks.uri,
        // The rig's clock is pinned while tokens are minted on the real one.
        clockSkew: 120,
        jwks: { timeoutMs: 2000, maxBytes: 64 * 1024, cacheMaxAge: 600, cooldown: 30, ...jwksOverrides },
      }),
    ],
    {
      now: () => clock.now,
      cacheMaxEntries,
      hooks: {
        onJwksFetch(issuer, result) {
          assert.equal(issuer, 'test-issuer');
          fetches.push(result);
          const w = waiters;
          waiters = [];
          for (const f of w) f(result);
        },
        onKeySourceError(_issuer, reason) {
          errors.push(reason);
        },
        onKeysSkipped(_issuer, reason) {
          skipped.push(reason);
        },
        onCacheLookup(hit) {
          lookups.push(hit);
        },
      },
    },
  );
  const r: Rig = {
    jwks,
    verifier,
    fetches,
    errors,
    skipped,
    lookups,
    clock,
    nextFetch: () => new Promise((resolve) => waiters.push(resolve)),
  };
  open.push(r);
  return r;
}

async function rejects(p: Promise<unknown>, code: ErrorCode, message?: string): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof GatehouseError, String(err));
    assert.equal(err.code, code, err.message);
    if (message !== undefined) assert.equal(err.message, message);
    return true;
  });
}

describe('key rotation', () => {
  test('a new key verifies without restart, the dropped key stops verifying, and no valid request fails meanwhile', async () => {
    const a = generateTestKey('RS256', 'key-a');
    const b = generateTestKey('RS256', 'key-b');
    // The shortest cache lifetime (refreshed every 0.75 s), so a background refresh picks up the removal of key A.
    const r = await rig([a], { cacheMaxAge: 1, cooldown: 30 });
    await r.verifier.ready;

    const oldToken = mintToken(a, claims);
    await r.verifier.verify(oldToken);
    await r.verifier.verify(oldToken); // stored at its second verification
    await r.verifier.verify(oldToken);
    assert.deepEqual(r.lookups, [false, false, true], 'the third use is a cache hit: cached under key A');

    // The issuer's signer, read by the request loop below.
    let signer = a;
    let running = true;
    let served = 0;
    const failures: unknown[] = [];
    const loop = (async () => {
      while (running) {
        try {
          await r.verifier.verify(mintToken(signer, { ...claims, jti: String(served) }));
          served++;
        } catch (err) {
          failures.push(err);
        }
        await new Promise((res) => setImmediate(res));
      }
    })();

    // 1. The JWKS gains key B; the issuer starts signing with it.
    r.jwks.setKeys([a, b]);
    signer = b;
    await r.verifier.verify(mintToken(b, claims)); // unknown kid → one re-fetch → found
    // 2. Later the old key leaves the JWKS; the next background refresh, asked after the change, picks that up.
    r.jwks.setKeys([b]);
    await r.jwks.waitForFetches(r.jwks.fetchCount + 1);
    assert.equal(await r.nextFetch(), 'ok');
    running = false;
    await loop;

    assert.deepEqual(failures, []);
    assert.ok(served > 0);
    // The cached old-key token is dropped with its key, not served until its exp.
    await rejects(r.verifier.verify(oldToken), 'GH_TOKEN_INVALID', 'unknown signing key');
    await rejects(r.verifier.verify(mintToken(a, claims)), 'GH_TOKEN_INVALID', 'unknown signing key');
    await r.verifier.verify(mintToken(b, claims));
  });

  test('new material under an old kid replaces the key, and cached tokens of the old material go with it', async () => {
    const a = generateTestKey('ES256', 'same-kid');
    const a2 = generateTestKey('ES256', 'same-kid');
    const r = await rig([a], { cacheMaxAge: 1 });
    await r.verifier.ready;
    const old = mintToken(a, claims);
    await r.verifier.verify(old);
    const first = await r.verifier.verify(old); // stored at its second verification
    // A background refresh that changes nothing keeps the cache: the same identity object comes back.
    await r.jwks.waitForFetches(r.jwks.fetchCount + 1);
    assert.equal(await r.nextFetch(), 'ok');
    assert.equal(await r.verifier.verify(old), first);
    r.jwks.setKeys([a2]);
    await r.jwks.waitForFetches(r.jwks.fetchCount + 1);
    assert.equal(await r.nextFetch(), 'ok');
    await rejects(r.verifier.verify(old), 'GH_TOKEN_INVALID', 'signature invalid');
    assert.equal((await r.verifier.verify(mintToken(a2, claims))).subject, 'alice');
  });

  test('the JWKS is refreshed in the background before cacheMaxAge ends, without any request', async () => {
    const a = generateTestKey('ES256');
    const r = await rig([a], { cacheMaxAge: 1 });
    await r.verifier.ready;
    await r.jwks.waitForFetches(2);
    assert.equal(await r.nextFetch(), 'ok');
    assert.deepEqual(r.fetches, ['ok', 'ok']);
  });
});

test('close() aborts a fetch under way instead of waiting for a slow endpoint', async () => {
  const a = generateTestKey('ES256');
  const r = await rig([a], { timeoutMs: 60_000 }, 'slow');
  await r.jwks.waitForHeld(1);
  r.verifier.close();
  await r.jwks.waitForHeld(0);
  assert.deepEqual(r.fetches, []); // an abort on close is not reported as a failed fetch
  assert.equal(r.verifier.isReady(), false);
});

describe('unknown kid flood', () => {
  test('many unknown kids cause at most one fetch per cooldown', async () => {
    const a = generateTestKey('ES256');
    const r = await rig([a], { cooldown: 30 });
    await r.verifier.ready;
    assert.equal(r.jwks.fetchCount, 1);

    const flood = Array.from({ length: 200 }, (_, i) => r.verifier.verify(mintToken(a, claims, { kid: `unknown-${i}` })));
    const results = await Promise.allSettled(flood);
    assert.ok(results.every((x) => x.status === 'rejected' && (x.reason as GatehouseError).message === 'unknown signing key'));
    assert.equal(r.jwks.fetchCount, 2);

    // Sequential ones within the cooldown: no fetch at all.
    for (let i = 0; i < 50; i++) await rejects(r.verifier.verify(mintToken(a, claims, { kid: `later-${i}` })), 'GH_TOKEN_INVALID');
    assert.equal(r.jwks.fetchCount, 2);

    // Past the cooldown, one more.
    r.clock.now += 30_000;
    for (let i = 0; i < 20; i++) await rejects(r.verifier.verify(mintToken(a, claims, { kid: `again-${i}` })), 'GH_TOKEN_INVALID');
    assert.equal(r.jwks.fetchCount, 3);
    // Valid tokens were never affected.
    await r.verifier.verify(mintToken(a, claims));
  });

  test('an unknown kid while the JWKS fails is 503 GH_KEYS_UNAVAILABLE (the key may be new), while known kids verify from the kept keys', async () => {
    const a = generateTestKey('ES256');
    const b = generateTestKey('ES256');
    const r = await rig([a], { cooldown: 30, timeoutMs: 300 });
    await r.verifier.ready;
    r.jwks.setBehaviour('error');
    r.jwks.setKeys([a, b]); // published during the outage
    // The re-fetch the unknown kid triggers fails: the kept keys are stale, not the token.
    await rejects(r.verifier.verify(mintToken(b, claims)), 'GH_KEYS_UNAVAILABLE');
    assert.equal(r.fetches.at(-1), 'error');
    // Within the cooldown too (no fetch): the last fetch failed.
    await rejects(r.verifier.verify(mintToken(b, claims, { kid: 'made-up' })), 'GH_KEYS_UNAVAILABLE');
    await r.verifier.verify(mintToken(a, claims));
    // Once a fetch succeeds, a kid it lacks is an unknown key again, and the new one verifies.
    r.jwks.setBehaviour('ok');
    r.clock.now += 30_000;
    assert.equal((await r.verifier.verify(mintToken(b, claims))).subject, claims.sub);
    await rejects(r.verifier.verify(mintToken(b, claims, { kid: 'made-up' })), 'GH_TOKEN_INVALID', 'unknown signing key');
  });

  test('a wall clock stepped back counts as the cooldown having passed, not as a cooldown of the step plus 30 s', async () => {
    const a = generateTestKey('ES256');
    const b = generateTestKey('ES256');
    const r = await rig([a], { cooldown: 30 });
    await r.verifier.ready;
    await rejects(r.verifier.verify(mintToken(a, claims, { kid: 'ghost' })), 'GH_TOKEN_INVALID', 'unknown signing key');
    assert.equal(r.jwks.fetchCount, 2, 'the cooldown is spent');
    // NTP steps the clock back an hour; then the issuer publishes key b and signs with it.
    r.clock.now -= 3_600_000;
    r.jwks.setKeys([a, b]);
    const nowSeconds = Math.floor(r.clock.now / 1000);
    assert.equal((await r.verifier.verify(mintToken(b, claims, { nowSeconds }))).subject, 'alice');
    assert.equal(r.jwks.fetchCount, 3);
    // The cooldown then counts from the new reading.
    await rejects(r.verifier.verify(mintToken(a, claims, { nowSeconds, kid: 'ghost-2' })), 'GH_TOKEN_INVALID', 'unknown signing key');
    assert.equal(r.jwks.fetchCount, 3);
  });
});

describe('a signature that fails under fetched keys', () => {
  /** As the gateway asks: the synchronous path first, `verify` only when it leaves the token undecided. */
  function decide(r: Rig, token: string): Promise<unknown> {
    const outcome = r.verifier.verifySync!(token);
    if (outcome === undefined) return r.verifier.verify(token);
    return outcome instanceof GatehouseError ? Promise.reject(outcome) : Promise.resolve(outcome);
  }

  test('a token naming a kid the set lacks falls back to the unnamed key; when that signature fails, a re-fetch brings the named key', async () => {
    const { kid: _, ...unnamed } = generateTestKey('RS256').publicJwk;
    const k1 = generateTestKey('RS256', 'k1');
    const k2 = generateTestKey('RS256', 'k2');
    const r = await rig([unnamed, k1]);
    await r.verifier.ready;
    // The issuer publishes k2 and starts signing with it.
    r.jwks.setKeys([unnamed, k1, k2]);
    const token = mintToken(k2, claims);
    assert.equal(r.verifier.verifySync!(token), undefined, 'left to verify: a re-fetch may bring the key');
    assert.equal((await r.verifier.verify(token)).subject, 'alice');
    assert.equal(r.jwks.fetchCount, 2);
  });

  test('new key material under a kid already held: the failed signature re-fetches, and the new token verifies', async () => {
    const old = generateTestKey('ES256', 'same-kid');
    const renewed = generateTestKey('ES256', 'same-kid');
    const r = await rig([old]);
    await r.verifier.ready;
    r.jwks.setKeys([renewed]);
    const token = mintToken(renewed, claims);
    assert.equal(r.verifier.verifySync!(token), undefined);
    assert.equal((await r.verifier.verify(token)).subject, 'alice');
    assert.equal(r.jwks.fetchCount, 2);
    // The old material is gone with that fetch; its tokens are now refused at once, without another fetch.
    const stale = r.verifier.verifySync!(mintToken(old, claims));
    assert.ok(stale instanceof GatehouseError && stale.message === 'signature invalid');
    assert.equal(r.jwks.fetchCount, 2);
  });

  test('a flood of forgeries costs one fetch per cooldown, and within the cooldown they are refused synchronously', async () => {
    const a = generateTestKey('ES256', 'signing');
    const forger = generateTestKey('ES256', 'signing');
    const r = await rig([a], { cooldown: 30 });
    await r.verifier.ready;
    assert.equal(r.jwks.fetchCount, 1);

    const forgeries = Array.from({ length: 200 }, (_, i) => mintToken(forger, { ...claims, jti: `flood-${i}` }));
    const results = await Promise.allSettled(forgeries.map((t) => decide(r, t)));
    assert.ok(results.every((x) => x.status === 'rejected' && (x.reason as GatehouseError).message === 'signature invalid'));
    assert.equal(r.jwks.fetchCount, 2, 'the flood shares one re-fetch');

    // Within the cooldown: refused on the synchronous path, new or repeated, no fetch.
    for (let i = 0; i < 50; i++) {
      for (const token of [mintToken(forger, { ...claims, jti: `later-${i}` }), forgeries[0]!]) {
        const refused = r.verifier.verifySync!(token);
        assert.ok(refused instanceof GatehouseError && refused.message === 'signature invalid', `pass ${i}`);
      }
    }
    assert.equal(r.jwks.fetchCount, 2);

    // Past the cooldown, one more for the next flood.
    r.clock.now += 30_000;
    const again = await Promise.allSettled(forgeries.slice(0, 50).map((t) => decide(r, t)));
    assert.ok(again.every((x) => x.status === 'rejected'));
    assert.equal(r.jwks.fetchCount, 3);
    assert.equal((await r.verifier.verify(mintToken(a, claims))).subject, 'alice');
  });

  test('a token remembered as a bad signature is checked again once a re-fetch is allowed: its key may have been published since', async () => {
    const old = generateTestKey('ES256', 'same-kid');
    const renewed = generateTestKey('ES256', 'same-kid');
    const r = await rig([old], { cooldown: 30 });
    await r.verifier.ready;
    // An unknown kid spends the cooldown just before the issuer publishes its new material.
    await rejects(r.verifier.verify(mintToken(old, claims, { kid: 'elsewhere' })), 'GH_TOKEN_INVALID', 'unknown signing key');
    assert.equal(r.jwks.fetchCount, 2);
    r.jwks.setKeys([renewed]);
    const token = mintToken(renewed, claims);
    for (let i = 0; i < 3; i++) {
      const refused = r.verifier.verifySync!(token);
      assert.ok(refused instanceof GatehouseError && refused.message === 'signature invalid');
    }
    assert.deepEqual(r.lookups.slice(-3), [false, false, true], 'in the rejected-signature cache from its second failure');
    assert.equal(r.jwks.fetchCount, 2);

    r.clock.now += 30_000;
    assert.equal(r.verifier.verifySync!(token), undefined);
    assert.equal((await r.verifier.verify(token)).subject, 'alice');
    assert.equal(r.jwks.fetchCount, 3);
  });
});

describe('a failing JWKS endpoint keeps the last good keys', () => {
  const reasons: Record<string, string> = {
    down: 'JWKS fetch failed: request failed',
    error: 'JWKS fetch failed: unexpected status 500',
    garbage: 'JWKS fetch failed: response is not JSON',
    oversized: 'JWKS fetch failed: response too large',
    slow: 'JWKS fetch failed: timed out',
  };
  const behaviours: JwksBehaviour[] = ['down', 'error', 'garbage', 'oversized', 'slow'];
  for (const behaviour of behaviours) {
    test(`${behaviour}: last good keys kept`, async () => {
      const a = generateTestKey('EdDSA');
      const r = await rig([a], { cooldown: 1, timeoutMs: 300, maxBytes: 16 * 1024 });
      await r.verifier.ready;
      r.jwks.setBehaviour(behaviour);
      r.clock.now += 1000;
      const failed = r.nextFetch();
      // An unknown kid forces a fetch, which fails: the keys could not be brought up to date (503).
      await rejects(r.verifier.verify(mintToken(a, claims, { kid: 'rotated-away' })), 'GH_KEYS_UNAVAILABLE');
      assert.equal(await failed, 'error');
      assert.deepEqual(r.errors, [reasons[behaviour]]);
      await r.verifier.verify(mintToken(a, claims));
      assert.equal(r.verifier.isReady(), true);
    });
  }

  test('a JWK that publishes its private key is never used, and is reported: the issuer\'s key has leaked', async () => {
    const good = generateTestKey('ES256');
    const leaked = generateTestKey('RS256');
    const leakedJwk = { ...(leaked.privateKey?.export({ format: 'jwk' }) as Record<string, unknown>), kid: leaked.kid, alg: 'RS256' };
    const r = await rig([good, leakedJwk]);
    await r.verifier.ready;
    await r.verifier.verify(mintToken(good, claims));
    await rejects(r.verifier.verify(mintToken(leaked, claims)), 'GH_TOKEN_INVALID');
    assert.ok(
      r.skipped.some((e) => e === `JWKS keys not used: kid ${leaked.kid} publishes private key material`),
      r.skipped.join('\n'),
    );
  });

  test('two keys under one kid for one algorithm: the second is never selected, and that is reported', async () => {
    const first = generateTestKey('ES256', 'dup');
    const second = generateTestKey('ES256', 'dup');
    const r = await rig([first, second]);
    await r.verifier.ready;
    assert.deepEqual(r.skipped, ['JWKS keys not used: kid dup shares its kid with an earlier key for each of its algorithms (ES256), so it is never selected']);
    await r.verifier.verify(mintToken(first, claims));
    await rejects(r.verifier.verify(mintToken(second, claims)), 'GH_TOKEN_INVALID', 'signature invalid');
  });

  test('a key shadowed under its kid for some of its algorithms: the report names them, and it serves the others', async () => {
    // Selection takes the first key under the kid that allows the token's alg: the second key is
    // never tried for RS256, and is the key for PS256.
    const first = generateTestKey('RS256', 'a');
    const second = generateTestKey('PS256', 'a');
    const { alg: _, ...secondNoAlg } = second.publicJwk;
    const r = await rig([{ ...first.publicJwk, alg: 'RS256' }, secondNoAlg]);
    await r.verifier.ready;
    assert.deepEqual(r.skipped, ['JWKS keys not used: kid a shares its kid with an earlier key for RS256, so it is selected only for PS256']);
    assert.equal((await r.verifier.verify(mintToken(second, claims))).subject, 'alice');
    await r.verifier.verify(mintToken(first, claims));
    const rs256BySecond = mintToken(testKeyFromPrivate('RS256', second.privateKey!, 'a'), claims);
    await rejects(r.verifier.verify(rs256BySecond), 'GH_TOKEN_INVALID', 'signature invalid');
  });

  test('an Ed448 key is skipped and reported (EdDSA means Ed25519 here); the Ed25519 key beside it serves', async () => {
    const ed25519 = generateTestKey('EdDSA');
    const ed448 = { ...generateKeyPairSync('ed448').publicKey.export({ format: 'jwk' }), kid: 'ed448-key', use: 'sig' };
    const r = await rig([ed448, ed25519]);
    await r.verifier.ready;
    assert.deepEqual(r.skipped, ['JWKS keys not used: kid ed448-key is an Ed448 key, and Ed448 is not supported (EdDSA verifies Ed25519 keys only)']);
    await r.verifier.verify(mintToken(ed25519, claims));
  });
});

describe('a JWK Set with no usable key is the issuer\'s word: the withdrawn key stops verifying', () => {
  const warning = 'JWKS has no usable key for the allowed algorithms: every token is refused';
  const withdrawals: [string, (a: TestKey) => Record<string, unknown>[], string][] = [
    ['an empty set', () => [], warning],
    ['only a key of an algorithm not allowed', () => [generateTestKey('ES384', 'other').publicJwk], `${warning} (kid other no allowed algorithm for this key)`],
    ['the old key re-published as use: enc', (a) => [{ ...a.publicJwk, use: 'enc' }], ''],
  ];
  for (const [what, published, expected] of withdrawals) {
    test(`${what}: new and cached tokens of the withdrawn key are refused at the next fetch (401), the operator is told once`, async () => {
      const a = generateTestKey('RS256', 'withdrawn');
      const r = await rig([a], { cooldown: 1 });
      await r.verifier.ready;
      const cached = mintToken(a, claims);
      await r.verifier.verify(cached);
      await r.verifier.verify(cached); // stored at its second verification
      await r.verifier.verify(cached);
      assert.deepEqual(r.lookups, [false, false, true], 'a cache hit before the withdrawal');

      r.jwks.setKeys(published(a));
      r.clock.now += 1000;
      // An unknown kid past the cooldown brings the fetch; a fetch that brings nothing usable still succeeds.
      await rejects(r.verifier.verify(mintToken(a, claims, { kid: 'next' })), 'GH_TOKEN_INVALID', 'unknown signing key');
      assert.equal(r.fetches.at(-1), 'ok');
      await rejects(r.verifier.verify(cached), 'GH_TOKEN_INVALID', 'unknown signing key');
      await rejects(r.verifier.verify(mintToken(a, { ...claims, jti: 'fresh' })), 'GH_TOKEN_INVALID', 'unknown signing key');
      const sync = r.verifier.verifySync!(cached);
      assert.ok(sync === undefined || (sync instanceof GatehouseError && sync.code === 'GH_TOKEN_INVALID'), 'never a cached identity');
      assert.equal(r.verifier.isReady(), true, 'not an outage: readiness stays');
      const reported = expected || `${warning} (kid withdrawn not a signature key)`;
      assert.deepEqual(r.errors, [reported]);

      // Still empty at the next fetch: not said again.
      r.clock.now += 1000;
      await rejects(r.verifier.verify(mintToken(a, claims, { kid: 'later' })), 'GH_TOKEN_INVALID', 'unknown signing key');
      assert.equal(r.fetches.at(-1), 'ok');
      assert.deepEqual(r.errors, [reported]);

      // The issuer publishes a key again: it serves, and a later withdrawal is said again.
      const b = generateTestKey('RS256', 'back');
      r.jwks.setKeys([b]);
      r.clock.now += 1000;
      assert.equal((await r.verifier.verify(mintToken(b, claims))).subject, 'alice');
      r.jwks.setKeys([]);
      r.clock.now += 1000;
      await rejects(r.verifier.verify(mintToken(b, claims, { kid: 'gone' })), 'GH_TOKEN_INVALID', 'unknown signing key');
      assert.deepEqual(r.errors, [reported, warning]);
    });
  }

  test('a transport failure is not a withdrawal: the last good keys verify on, cached tokens too', async () => {
    const a = generateTestKey('RS256', 'kept');
    const r = await rig([a], { cooldown: 1, timeoutMs: 300 });
    await r.verifier.ready;
    const cached = mintToken(a, claims);
    await r.verifier.verify(cached);
    await r.verifier.verify(cached);
    r.jwks.setKeys([]);
    r.jwks.setBehaviour('down');
    r.clock.now += 1000;
    await rejects(r.verifier.verify(mintToken(a, claims, { kid: 'next' })), 'GH_KEYS_UNAVAILABLE');
    assert.equal(r.fetches.at(-1), 'error');
    assert.equal((await r.verifier.verify(cached)).subject, 'alice');
    assert.equal((await r.verifier.verify(mintToken(a, { ...claims, jti: 'fresh' }))).subject, 'alice');
    assert.deepEqual(r.errors, ['JWKS fetch failed: request failed']);
  });

  test('a first fetch with no usable key: loaded and ready (its tokens get 401, not 503), said once; the key serves once published', async () => {
    const a = generateTestKey('ES256', 'late');
    const r = await rig([], { cooldown: 1 });
    await r.verifier.newKeysLoaded;
    await r.verifier.ready;
    assert.equal(r.verifier.isReady(), true);
    assert.deepEqual(r.errors, [warning]);
    await rejects(r.verifier.verify(mintToken(a, claims)), 'GH_TOKEN_INVALID', 'unknown signing key');
    await rejects(r.verifier.verify(mintToken(a, claims, { kid: null })), 'GH_TOKEN_INVALID');
    r.jwks.setKeys([a]);
    r.clock.now += 1000;
    assert.equal((await r.verifier.verify(mintToken(a, claims))).subject, 'alice');
    assert.deepEqual(r.errors, [warning]);
  });

  test('with no usable key, a flood of kids still costs at most one fetch per cooldown', async () => {
    const a = generateTestKey('ES256');
    const r = await rig([], { cooldown: 30 });
    await r.verifier.newKeysLoaded;
    const before = r.jwks.fetchCount;
    const flood = await Promise.allSettled(Array.from({ length: 100 }, (_, i) => r.verifier.verify(mintToken(a, claims, { kid: `k-${i}` }))));
    assert.ok(flood.every((x) => x.status === 'rejected' && (x.reason as GatehouseError).message === 'unknown signing key'));
    for (let i = 0; i < 20; i++) await rejects(r.verifier.verify(mintToken(a, claims, { kid: `again-${i}` })), 'GH_TOKEN_INVALID');
    assert.ok(r.jwks.fetchCount - before <= 1, `fetches: ${r.jwks.fetchCount - before}`);
  });
});

describe('a JWKS that never loaded', () => {
  for (const behaviour of ['down', 'garbage', 'oversized', 'slow'] as const) {
    test(`${behaviour}: 503 GH_KEYS_UNAVAILABLE until it loads`, async () => {
      const a = generateTestKey('PS256');
      const r = await rig([a], { cooldown: 1, timeoutMs: 300, maxBytes: 16 * 1024 }, behaviour);
      let ready = false;
      void r.verifier.ready.then(() => (ready = true));
      await rejects(r.verifier.verify(mintToken(a, claims)), 'GH_KEYS_UNAVAILABLE');
      assert.equal(r.verifier.isReady(), false);
      // Within the cooldown a request does not fetch again; it fails fast.
      const count = r.jwks.fetchCount;
      await rejects(r.verifier.verify(mintToken(a, claims)), 'GH_KEYS_UNAVAILABLE');
      assert.ok(r.jwks.fetchCount <= count + 1); // a background retry may be under way, never one per request

      r.jwks.setBehaviour('ok');
      r.clock.now += 1000;
      await r.verifier.verify(mintToken(a, claims));
      await r.verifier.ready;
      assert.equal(ready, true);
      assert.equal(r.verifier.isReady(), true);
    });
  }

  test('the GH_KEYS_UNAVAILABLE error maps to 503', async () => {
    const a = generateTestKey('RS256');
    const r = await rig([a], { cooldown: 30 }, 'error');
    await assert.rejects(r.verifier.verify(mintToken(a, claims)), (e: GatehouseError) => e.status === 503);
  });
});

describe('a reload (VerifierOptions.previous)', () => {
  test('an issuer with unchanged key settings keeps its keys without a fetch; either verifier may close first', async () => {
    const a = generateTestKey('ES256', 'reload-a');
    const b = generateTestKey('ES256', 'reload-b');
    const jwks = await startJwksServer([a]);
    const options = testIssuerOptions({ jwksUri: jwks.uri });
    const first = createTokenVerifier([options]);
    try {
      await first.ready;
      jwks.setBehaviour('down');
      const fetches = jwks.fetchCount;
      // A reload that fails after building closes its verifier: the old one must keep everything.
      createTokenVerifier([options], { previous: first }).close();
      const next = createTokenVerifier([options], { previous: first });
      first.close();
      try {
        assert.equal(next.isReady(), true);
        await next.newKeysLoaded;
        assert.equal((await next.verify(mintToken(a, claims))).subject, 'alice');
        assert.equal(jwks.fetchCount, fetches, 'nothing fetched');
        // The key source is still live: an unknown kid still brings a fetch.
        jwks.setBehaviour('ok');
        jwks.setKeys([a, b]);
        assert.equal((await next.verify(mintToken(b, claims))).subject, 'alice');
        // New claim rules keep the keys; new key settings get a source of their own, which fetches
        // with them at once and, for the same jwksUri and algorithms, serves the last good keys meanwhile.
        const rules = createTokenVerifier([{ ...options, audience: 'other' }], { previous: next });
        assert.equal(rules.isReady(), true);
        assert.equal(jwks.fetchCount, fetches + 1);
        const limits = createTokenVerifier([{ ...options, jwks: { ...options.jwks, timeoutMs: 1000 } }], { previous: next });
        assert.equal(limits.isReady(), true);
        await limits.newKeysLoaded;
        await jwks.waitForFetches(fetches + 2);
        rules.close();
        limits.close();
      } finally {
        next.close();
      }
    } finally {
      first.close();
      await jwks.close();
    }
  });
});
