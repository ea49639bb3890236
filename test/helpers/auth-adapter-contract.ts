import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AdapterPayload } from 'oidc-provider';
import { storedId } from '../../src/auth-service/adapters/at-rest.js';
import type { ModelStore } from '../../src/auth-service/adapters/sqlite.js';

/**
 * The behaviour oidc-provider needs from a storage adapter; every
 * implementation (SQLite, Redis) runs this same suite. `open` gets a clock in
 * epoch ms the suite moves to test expiry.
 */
export function adapterContract(name: string, open: (now: () => number) => Promise<ModelStore>): void {
  const setup = async (t: { after(fn: () => Promise<void>): void }) => {
    let clock = 1_800_000_000_000;
    const store = await open(() => clock);
    t.after(() => store.close());
    return { store, advance: (ms: number) => (clock += ms) };
  };

  test(`${name}: upsert, find, destroy`, async (t) => {
    const { store } = await setup(t);
    const a = store.factory('AccessToken');
    await a.upsert('t1', { jti: 't1', kind: 'AccessToken' } as AdapterPayload, 60);
    assert.deepEqual(await a.find('t1'), { jti: 't1', kind: 'AccessToken' });
    assert.equal(await store.factory('RefreshToken').find('t1'), undefined, 'models are separate');
    await a.destroy('t1');
    assert.equal(await a.find('t1'), undefined);
  });

  test(`${name}: expiry follows the injected clock`, async (t) => {
    const { store, advance } = await setup(t);
    const a = store.factory('AuthorizationCode');
    await a.upsert('c1', { jti: 'c1' } as AdapterPayload, 60);
    await a.upsert('forever', { jti: 'forever' } as AdapterPayload);
    advance(59_000);
    assert.ok(await a.find('c1'));
    advance(2_000);
    assert.equal(await a.find('c1'), undefined);
    assert.ok(await a.find('forever'));
  });

  test(`${name}: consume marks the payload and keeps it`, async (t) => {
    const { store } = await setup(t);
    const r = store.factory('RefreshToken');
    await r.upsert('r1', { jti: 'r1', grantId: 'g1' } as AdapterPayload, 600);
    await r.consume('r1');
    const found = (await r.find('r1')) as AdapterPayload & { consumed?: number };
    assert.equal(typeof found.consumed, 'number');
    // A model without a grant (a pushed authorization request) has nothing to refuse when it is gone.
    await store.factory('PushedAuthorizationRequest').consume('missing');
  });

  test(`${name}: consume of a refresh token or code revoked since it was found refuses (invalid_grant) and brings nothing back`, async (t) => {
    const { store } = await setup(t);
    // oidc-provider finds the token, then consumes it: a revocation in between must not let the refresh go on.
    for (const model of ['RefreshToken', 'AuthorizationCode']) {
      const adapter = store.factory(model);
      await adapter.upsert('r1', { jti: 'r1', grantId: 'g1' } as AdapterPayload, 600);
      await adapter.revokeByGrantId('g1');
      await assert.rejects(adapter.consume('r1'), (err: { error?: string }) => err.error === 'invalid_grant', model);
      assert.equal(await adapter.find('r1'), undefined, model);
      await assert.rejects(adapter.consume('never-stored'), (err: { error?: string }) => err.error === 'invalid_grant', model);
    }
  });

  test(`${name}: revokeByGrantId removes every model of the grant and nothing else`, async (t) => {
    const { store } = await setup(t);
    const at = store.factory('AccessToken');
    const rt = store.factory('RefreshToken');
    const code = store.factory('AuthorizationCode');
    await at.upsert('a1', { jti: 'a1', grantId: 'g1' } as AdapterPayload, 600);
    await rt.upsert('r1', { jti: 'r1', grantId: 'g1' } as AdapterPayload, 600);
    await code.upsert('c1', { jti: 'c1', grantId: 'g1' } as AdapterPayload, 600);
    await at.upsert('a2', { jti: 'a2', grantId: 'g2' } as AdapterPayload, 600);
    await rt.revokeByGrantId('g1');
    await at.revokeByGrantId('g1');
    await code.revokeByGrantId('g1');
    assert.equal(await at.find('a1'), undefined);
    assert.equal(await rt.find('r1'), undefined);
    assert.equal(await code.find('c1'), undefined);
    assert.ok(await at.find('a2'));
  });

  test(`${name}: findByUid and findByUserCode`, async (t) => {
    const { store } = await setup(t);
    const s = store.factory('Session');
    await s.upsert('s1', { jti: 's1', uid: 'u-1' } as AdapterPayload, 600);
    assert.equal(((await s.findByUid('u-1')) as AdapterPayload).jti, 's1');
    assert.equal(await s.findByUid('u-2'), undefined);
    const d = store.factory('DeviceCode');
    await d.upsert('d1', { jti: 'd1', userCode: 'ABCD-EFGH' } as AdapterPayload, 600);
    assert.equal(((await d.findByUserCode('ABCD-EFGH')) as AdapterPayload).jti, 'd1');
  });

  test(`${name}: upsert replaces`, async (t) => {
    const { store } = await setup(t);
    const g = store.factory('Grant');
    await g.upsert('g1', { jti: 'g1', accountId: 'a' } as AdapterPayload, 600);
    await g.upsert('g1', { jti: 'g1', accountId: 'b' } as AdapterPayload, 600);
    assert.equal(((await g.find('g1')) as AdapterPayload).accountId, 'b');
  });
}

/** Races two consumes of one refresh token: exactly one wins; the other is a replay that ends the grant. */
export function adapterRaceContract(name: string, open: (now: () => number) => Promise<ModelStore>): void {
  test(`${name}: concurrent consume of one refresh token: one wins, the loser gets invalid_grant and the grant ends`, async (t) => {
    const store = await open(Date.now);
    t.after(() => store.close());
    const rt = store.factory('RefreshToken');
    const at = store.factory('AccessToken');
    const grant = store.factory('Grant');
    await grant.upsert('g1', { jti: 'g1' } as AdapterPayload, 600);
    await rt.upsert('r1', { jti: 'r1', grantId: 'g1' } as AdapterPayload, 600);
    await at.upsert('a1', { jti: 'a1', grantId: 'g1' } as AdapterPayload, 600);
    const results = await Promise.allSettled([rt.consume('r1'), rt.consume('r1')]);
    assert.deepEqual(results.map((r) => r.status).sort(), ['fulfilled', 'rejected']);
    const failure = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    assert.equal((failure.reason as { error?: string }).error, 'invalid_grant');
    assert.equal(await at.find('a1'), undefined);
    assert.equal(await grant.find('g1'), undefined);
    // A consumed authorization code is likewise spent once.
    const code = store.factory('AuthorizationCode');
    await code.upsert('c1', { jti: 'c1', grantId: 'g2' } as AdapterPayload, 60);
    await code.consume('c1');
    await assert.rejects(code.consume('c1'), (err: { error?: string }) => err.error === 'invalid_grant');
  });
}

/** Raw access to a store's storage, for the at-rest contract. */
export interface StoreProbe {
  /** Every stored key and value, as text. */
  dump(): Promise<string>;
  /** Writes a record the way the store kept it before tokens were stored under a digest. */
  writeLegacy(model: string, id: string, payload: AdapterPayload, expiresInSeconds: number): Promise<void>;
}

/**
 * Tokens at rest: whoever reads the storage finds no usable token. Records
 * written before that (under the token itself) keep working until they expire.
 */
export function adapterAtRestContract(name: string, open: (now: () => number) => Promise<ModelStore & StoreProbe>): void {
  test(`${name}: opaque access tokens, refresh tokens, codes are stored under a digest and without their jti; other models as they are`, async (t) => {
    const store = await open(Date.now);
    t.after(() => store.close());
    const secret = `tok-${Math.random().toString(36).slice(2)}`;
    for (const model of ['AccessToken', 'ClientCredentials', 'RefreshToken', 'AuthorizationCode']) {
      const id = `${secret}-${model}`;
      await store.factory(model).upsert(id, { jti: id, kind: model, grantId: 'g1' } as AdapterPayload, 60);
      assert.deepEqual(await store.factory(model).find(id), { jti: id, kind: model, grantId: 'g1' }, model);
    }
    assert.ok(!(await store.dump()).includes(secret), 'no token in the storage');
    await store.factory('Session').upsert('session-id-1', { jti: 'session-id-1', uid: 'u-9' } as AdapterPayload, 60);
    assert.ok((await store.dump()).includes('session-id-1'), 'sessions are looked up by uid too: kept as they are');
    // The grant still takes its tokens with it.
    await store.factory('RefreshToken').revokeByGrantId('g1');
    assert.equal(await store.factory('RefreshToken').find(`${secret}-RefreshToken`), undefined);
    assert.equal(await store.factory('AccessToken').find(`${secret}-AccessToken`), undefined);
  });

  test(`${name}: the key a token is stored under is not itself a token (a store reader cannot present it)`, async (t) => {
    const store = await open(Date.now);
    t.after(() => store.close());
    for (const model of ['AccessToken', 'ClientCredentials', 'RefreshToken', 'AuthorizationCode']) {
      const adapter = store.factory(model);
      await adapter.upsert('tok', { jti: 'tok', kind: model, grantId: 'g-digest' } as AdapterPayload, 600);
      const digest = storedId(model, 'tok');
      assert.equal(await adapter.find(digest), undefined, `${model}: find by its stored key`);
      // Names no record: refused for the models a grant owns (see the consume contract), a no-op for the others.
      await adapter.consume(digest).catch((err: { error?: string }) => assert.equal(err.error, 'invalid_grant', model));
      await adapter.destroy(digest);
      const kept = (await adapter.find('tok')) as (AdapterPayload & { consumed?: number }) | undefined;
      assert.ok(kept, `${model}: destroy by its stored key removed nothing`);
      assert.equal(kept.consumed, undefined, `${model}: consume by its stored key marked nothing`);
    }
  });

  test(`${name}: a token stored before digests is still found, consumed once (a replay ends its grant) and destroyed`, async (t) => {
    const store = await open(Date.now);
    t.after(() => store.close());
    const rt = store.factory('RefreshToken');
    await store.writeLegacy('RefreshToken', 'old-rt', { jti: 'old-rt', kind: 'RefreshToken', grantId: 'g-old' } as AdapterPayload, 600);
    await store.writeLegacy('AccessToken', 'old-at', { jti: 'old-at', kind: 'AccessToken', grantId: 'g-old' } as AdapterPayload, 600);
    await store.writeLegacy('AccessToken', 'old-at-2', { jti: 'old-at-2', kind: 'AccessToken' } as AdapterPayload, 600);
    assert.equal(((await rt.find('old-rt')) as AdapterPayload).jti, 'old-rt');
    await rt.consume('old-rt');
    assert.equal(typeof ((await rt.find('old-rt')) as AdapterPayload & { consumed?: number }).consumed, 'number');
    await assert.rejects(rt.consume('old-rt'), (err: { error?: string }) => err.error === 'invalid_grant');
    assert.equal(await store.factory('AccessToken').find('old-at'), undefined, 'the replay ended the grant');
    const at = store.factory('AccessToken');
    assert.ok(await at.find('old-at-2'));
    await at.destroy('old-at-2');
    assert.equal(await at.find('old-at-2'), undefined);
  });
}
