import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AdapterPayload } from 'oidc-provider';
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
    await r.consume('missing');
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
