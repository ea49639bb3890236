import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { GatehouseError } from '../errors.js';
import { b64, generateTestKey, mintToken, startJwksServer, testIssuerOptions, type JwksServer } from '../../test/helpers/jwt.js';
import { createTokenVerifier } from './jwt/verifier.js';
import { tokenCacheKey, VerifiedTokenCache } from './cache.js';
import type { Identity } from './identity.js';

const ISS = 'https://issuer.test';
const NOW = 1_800_000_000;
const key = generateTestKey('RS256');
let jwks: JwksServer;
before(async () => {
  jwks = await startJwksServer([key]);
});
after(() => jwks.close());

function counting(maxEntries?: number, clock = { now: NOW * 1000 }) {
  const lookups: boolean[] = [];
  const verifier = createTokenVerifier([testIssuerOptions({ jwksUri: jwks.uri })], {
    now: () => clock.now,
    cacheMaxEntries: maxEntries,
    hooks: { onCacheLookup: (hit) => lookups.push(hit) },
  });
  return { verifier, lookups, clock };
}

describe('verified-token cache', () => {
  test('a token is stored on its second verification and then served from the cache, as the same identity', async () => {
    const { verifier, lookups } = counting();
    try {
      const token = mintToken(key, { iss: ISS, aud: 'api' }, { nowSeconds: NOW });
      const first = await verifier.verify(token);
      const second = await verifier.verify(token);
      assert.notEqual(second, first, 'a token seen once is not stored');
      const third = await verifier.verify(token);
      assert.equal(third, second);
      assert.equal(await verifier.verify(token), second);
      assert.deepEqual(lookups, [false, false, true, true]);
    } finally {
      verifier.close();
    }
  });

  test('an entry never outlives its token: the injected clock is checked on every hit', async () => {
    const { verifier, lookups, clock } = counting();
    try {
      const token = mintToken(key, { iss: ISS, aud: 'api', exp: NOW + 60 }, { nowSeconds: NOW });
      await verifier.verify(token);
      await verifier.verify(token);
      await verifier.verify(token);
      assert.deepEqual(lookups, [false, false, true], 'stored at the second verification');
      clock.now = (NOW + 60) * 1000;
      await assert.rejects(verifier.verify(token), (e: GatehouseError) => e.code === 'GH_TOKEN_EXPIRED');
      assert.deepEqual(lookups, [false, false, true, false]);
    } finally {
      verifier.close();
    }
  });

  test('failures are never cached as success, and a tampered twin of a cached token fails', async () => {
    const { verifier, lookups } = counting();
    try {
      const token = mintToken(key, { iss: ISS, aud: 'api', sub: 'alice' }, { nowSeconds: NOW });
      await verifier.verify(token);
      const [h, , s] = token.split('.');
      const twin = `${h}.${b64(JSON.stringify({ iss: ISS, aud: 'api', sub: 'root', exp: NOW + 60 }))}.${s}`;
      const refusals = new Set<unknown>();
      for (let i = 0; i < 3; i++) {
        await assert.rejects(verifier.verify(twin), (e: GatehouseError) => refusals.add(e) && e.message === 'signature invalid');
      }
      // verify() throws a refusal of the caller's own each time, verified or answered from the cache (see ownCopy in verifier.ts).
      assert.equal(refusals.size, 3);
      assert.ok([...refusals].every((e) => !Object.isFrozen(e)));
      // A bad signature is remembered from its second failure on; the third answer comes from that cache (a hit).
      assert.deepEqual(lookups, [false, false, false, true]);
      // The synchronous path, the one a flood of forgeries drives, answers from the cache with the one shared, frozen refusal.
      const cached = verifier.verifySync!(twin);
      assert.ok(cached instanceof GatehouseError && Object.isFrozen(cached));
      assert.equal(verifier.verifySync!(twin), cached);
      assert.deepEqual(lookups.slice(4), [true, true]);
      const bad = mintToken(key, { iss: ISS, aud: 'other' }, { nowSeconds: NOW });
      for (let i = 0; i < 3; i++) {
        await assert.rejects(verifier.verify(bad), (e: GatehouseError) => e.message === 'audience not accepted');
      }
      assert.deepEqual(lookups.slice(6), [false, false, false], 'a claim failure is never remembered');
    } finally {
      verifier.close();
    }
  });

  test('cacheMaxEntries 0 disables the cache (no lookups at all)', async () => {
    const { verifier, lookups } = counting(0);
    try {
      const token = mintToken(key, { iss: ISS, aud: 'api' }, { nowSeconds: NOW });
      const a = await verifier.verify(token);
      const b = await verifier.verify(token);
      assert.notEqual(a, b);
      assert.deepEqual(lookups, []);
    } finally {
      verifier.close();
    }
  });

  test('the cache is bounded in entries', async () => {
    const { verifier, lookups } = counting(2);
    try {
      const tokens = [1, 2, 3].map((i) => mintToken(key, { iss: ISS, aud: 'api', jti: `t${i}` }, { nowSeconds: NOW }));
      // Twice each, so each is stored.
      for (const t of tokens) {
        await verifier.verify(t);
        await verifier.verify(t);
      }
      await verifier.verify(tokens[0]!); // evicted by the third
      await verifier.verify(tokens[2]!);
      assert.deepEqual(lookups, [false, false, false, false, false, false, false, true]);
    } finally {
      verifier.close();
    }
  });
});

const keyFor = (name: string) => tokenCacheKey(`token ${name}`);

describe('VerifiedTokenCache', () => {
  const identity = { expiresAt: NOW + 10 } as Identity;
  test('drops entries whose key was withdrawn, for that issuer only', () => {
    const cache = new VerifiedTokenCache(10);
    const entry = (issuer: string, keyId: string) => ({ identity, issuer, keyId, expiresAtMs: (NOW + 10) * 1000 });
    for (const [k, issuer, keyId] of [
      [keyFor('a'), 'one', 'k1'],
      [keyFor('b'), 'one', 'k2'],
      [keyFor('c'), 'two', 'k1'],
    ] as const) {
      cache.set(k, entry(issuer, keyId), NOW * 1000); // the first offer is only remembered
      cache.set(k, entry(issuer, keyId), NOW * 1000);
    }
    assert.equal(cache.size, 3);
    assert.equal(cache.dropWithdrawnKeys('one', new Set(['k2'])), 1);
    assert.equal(cache.get(keyFor('a'), NOW * 1000), undefined);
    assert.ok(cache.get(keyFor('b'), NOW * 1000));
    assert.ok(cache.get(keyFor('c'), NOW * 1000));
  });

  test('an already expired entry is not stored', () => {
    const cache = new VerifiedTokenCache(10);
    const expired = { identity, issuer: 'x', keyId: 'k', expiresAtMs: NOW * 1000 };
    cache.set(keyFor('a'), expired, NOW * 1000);
    cache.set(keyFor('a'), expired, NOW * 1000);
    assert.equal(cache.size, 0);
  });

  test('the key is a fixed-size hash, not the token', () => {
    const token = 'a'.repeat(5000);
    const k = tokenCacheKey(token);
    assert.equal(k.length, 32);
    assert.ok(!k.includes('aaaa'));
    assert.deepEqual(Buffer.from(k, 'latin1'), createHash('sha256').update(token).digest());
    assert.notEqual(k, tokenCacheKey(`${token}b`));
  });
});
