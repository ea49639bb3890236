import assert from 'node:assert/strict';
import { after, test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { GatehouseError } from '../errors.js';
import { deletePrefix, randomPrefix, REDIS_URL } from '../../test/helpers/sessions.js';
import { MemorySessionStore } from './memory/memory-store.js';
import { RedisSessionStore } from './redis/redis-store.js';
import { expiresWithin, isRefreshDue, mergeTokens, RefreshCoordinator, UnsavedRotations, type RefreshOps, type RefreshOutcome, type SessionTokens } from './refresh.js';
import { manualClock, type ManualClock } from './store-contract.js';
import type { SessionStore } from './store.js';

const prefix = randomPrefix('refresh');
after(() => deletePrefix(REDIS_URL, prefix));

/**
 * A provider with rotation and reuse detection: each refresh token works once;
 * presenting a used one revokes the family, as RFC 9700 asks.
 */
class RotatingProvider {
  calls = 0;
  familyRevoked = false;
  down = false;
  /** How long the token endpoint takes. */
  delayMs = 20;
  private current = 'rt-0';
  constructor(private readonly clock: ManualClock) {}

  readonly grant = async (refreshToken: string): Promise<SessionTokens> => {
    this.calls++;
    await sleep(this.delayMs); // let concurrent callers pile up
    if (this.down) throw new GatehouseError('GH_PROVIDER_UNAVAILABLE', 'provider unreachable');
    if (this.familyRevoked || refreshToken !== this.current) {
      this.familyRevoked = true;
      throw new GatehouseError('GH_SESSION_EXPIRED', 'refresh token rejected');
    }
    this.current = `rt-${this.calls}`;
    return { accessToken: `at-${this.calls}`, accessTokenExpiresAt: Math.floor(this.clock.now() / 1000) + 300, refreshToken: this.current };
  };
}

interface State {
  tokens: SessionTokens;
  version: number;
}

/** A stateful session kept as JSON in a real store, refreshed with compare-and-set. */
function storeOps(store: SessionStore, key: string, grant: (rt: string) => Promise<SessionTokens>, clock: ManualClock): RefreshOps<State> {
  const reload = async () => {
    const e = await store.get(key);
    return e ? { tokens: JSON.parse(e.data) as SessionTokens, version: e.version } : undefined;
  };
  return {
    needsRefresh: (s) => expiresWithin(s.tokens.accessTokenExpiresAt, 30, clock.now()),
    reload,
    async refresh(s) {
      const tokens = mergeTokens(s.tokens, await grant(s.tokens.refreshToken as string));
      const next = { tokens, version: s.version + 1 };
      assert.equal(await store.replace(key, { data: JSON.stringify(tokens), version: next.version }, 3600, s.version), true);
      return next;
    },
    end: () => store.delete(key),
    tokens: (s) => s.tokens,
    hasUnsavedRotation: () => false,
  };
}

/**
 * storeOps whose store write fails `failWrites` times after the provider rotated, keeping the
 * rotation in memory (UnsavedRotations) as the session managers do.
 */
function unsavedOps(store: SessionStore, key: string, grant: (rt: string) => Promise<SessionTokens>, clock: ManualClock, failWrites: { n: number }): RefreshOps<State> {
  const kept = new UnsavedRotations(clock.now, 600_000);
  return {
    ...storeOps(store, key, grant, clock),
    async refresh(s) {
      const tokens = kept.get(key, s.tokens.refreshToken) ?? mergeTokens(s.tokens, await grant(s.tokens.refreshToken as string));
      if (failWrites.n > 0) {
        failWrites.n--;
        kept.keep(key, s.tokens.refreshToken as string, tokens);
        throw new GatehouseError('GH_SESSION_STORE_UNAVAILABLE', 'store write failed');
      }
      assert.equal(await store.replace(key, { data: JSON.stringify(tokens), version: s.version + 1 }, 3600, s.version), true);
      kept.forget(key);
      return { tokens, version: s.version + 1 };
    },
    hasUnsavedRotation: (s) => {
      const k = kept.get(key, s.tokens.refreshToken);
      return k !== undefined && !expiresWithin(k.accessTokenExpiresAt, 30, clock.now());
    },
  };
}

/** Two instances' stores on one Redis prefix, closed after the test. */
async function twoInstances(t: TestContext, clock: ManualClock): Promise<[RedisSessionStore, RedisSessionStore]> {
  const storeA = await RedisSessionStore.connect(REDIS_URL, { prefix, clock: clock.now });
  const storeB = await RedisSessionStore.connect(REDIS_URL, { prefix, clock: clock.now });
  t.after(async () => {
    await storeA.close();
    await storeB.close();
  });
  return [storeA, storeB];
}

async function seed(store: SessionStore, key: string, clock: ManualClock, expiresInSeconds: number): Promise<State> {
  const tokens = { accessToken: 'at-0', accessTokenExpiresAt: Math.floor(clock.now() / 1000) + expiresInSeconds, refreshToken: 'rt-0' };
  await store.put(key, { data: JSON.stringify(tokens), version: 1 }, 3600);
  return { tokens, version: 1 };
}

test('a fresh token is used as is; an expired one or one inside the skew is refreshed', async () => {
  const clock = manualClock();
  const store = new MemorySessionStore({ clock: clock.now, sweepIntervalMs: 0 });
  const provider = new RotatingProvider(clock);
  const coord = new RefreshCoordinator({ store, now: clock.now });
  const ops = storeOps(store, 's', provider.grant, clock);
  let state = await seed(store, 's', clock, 120);
  assert.equal(await coord.ensureFresh('s', state, ops), state);
  assert.equal(provider.calls, 0);
  clock.advance(100_000); // 20 s left, inside the 30 s skew
  state = await coord.ensureFresh('s', state, ops);
  assert.equal(state.tokens.accessToken, 'at-1');
  assert.equal(state.tokens.refreshToken, 'rt-1');
  assert.equal(provider.calls, 1);
  clock.advance(400_000); // expired outright
  state = await coord.ensureFresh('s', state, ops);
  assert.equal(state.tokens.accessToken, 'at-2');
  assert.equal(provider.calls, 2);
  assert.equal(JSON.parse((await store.get('s'))?.data as string).refreshToken, 'rt-2', 'rotation persisted');
  await store.close();
});

test('50 concurrent requests of one session → exactly one refresh (in-process single flight)', async () => {
  const clock = manualClock();
  const store = new MemorySessionStore({ clock: clock.now, sweepIntervalMs: 0 });
  const provider = new RotatingProvider(clock);
  const coord = new RefreshCoordinator({ store, now: clock.now });
  const stale = await seed(store, 's', clock, -1);
  const ops = storeOps(store, 's', provider.grant, clock);
  const results = await Promise.all(Array.from({ length: 50 }, () => coord.ensureFresh('s', stale, ops)));
  assert.equal(provider.calls, 1);
  assert.ok(results.every((r) => r.tokens.accessToken === 'at-1'));
  assert.equal(provider.familyRevoked, false);
  assert.equal(coord.pending, 0);
  await store.close();
});

test('two instances on one Redis, many requests each → exactly one refresh, no reuse', async (t) => {
  const clock = manualClock();
  const [storeA, storeB] = await twoInstances(t, clock);
  const provider = new RotatingProvider(clock);
  const a = new RefreshCoordinator({ store: storeA, now: clock.now, pollMs: 10 });
  const b = new RefreshCoordinator({ store: storeB, now: clock.now, pollMs: 10 });
  const stale = await seed(storeA, 'shared', clock, -1);
  const opsA = storeOps(storeA, 'shared', provider.grant, clock);
  const opsB = storeOps(storeB, 'shared', provider.grant, clock);
  const results = await Promise.all(
    Array.from({ length: 40 }, (_, i) => (i % 2 ? a.ensureFresh('shared', stale, opsA) : b.ensureFresh('shared', stale, opsB))),
  );
  assert.equal(provider.calls, 1, 'one refresh at the provider');
  assert.equal(provider.familyRevoked, false, 'the old refresh token was never replayed');
  assert.ok(results.every((r) => r.tokens.accessToken === 'at-1'));
});

test('a refresh slower than the lock\'s ttl keeps the lock (renewed): the other instance waits and adopts, never replays', async (t) => {
  const clock = manualClock();
  const [storeA, storeB] = await twoInstances(t, clock);
  const provider = new RotatingProvider(clock);
  provider.delayMs = 900; // three lock lifetimes
  const a = new RefreshCoordinator({ store: storeA, now: clock.now, lockTtlMs: 300, pollMs: 10, waitMs: 5000 });
  const b = new RefreshCoordinator({ store: storeB, now: clock.now, lockTtlMs: 300, pollMs: 10, waitMs: 5000 });
  const stale = await seed(storeA, 'slow', clock, -1);
  const first = a.ensureFresh('slow', stale, storeOps(storeA, 'slow', provider.grant, clock));
  await sleep(100);
  const second = b.ensureFresh('slow', stale, storeOps(storeB, 'slow', provider.grant, clock));
  const [ra, rb] = await Promise.all([first, second]);
  assert.equal(provider.calls, 1, 'one refresh at the provider');
  assert.equal(provider.familyRevoked, false, 'the old refresh token was never replayed');
  assert.equal(ra.tokens.accessToken, 'at-1');
  assert.equal(rb.tokens.accessToken, 'at-1');
});

test('the store refuses a rotation: the lock stays held until the kept rotation is stored, so no instance replays the consumed token', async (t) => {
  const clock = manualClock();
  const [storeA, storeB] = await twoInstances(t, clock);
  const provider = new RotatingProvider(clock);
  const a = new RefreshCoordinator({ store: storeA, now: clock.now, pollMs: 10, waitMs: 5000 });
  const b = new RefreshCoordinator({ store: storeB, now: clock.now, pollMs: 10, waitMs: 5000 });
  const stale = await seed(storeA, 'unsaved', clock, -1);
  const first = a.ensureFresh('unsaved', stale, unsavedOps(storeA, 'unsaved', provider.grant, clock, { n: 1 }));
  await sleep(5);
  const second = b.ensureFresh('unsaved', stale, unsavedOps(storeB, 'unsaved', provider.grant, clock, { n: 0 }));
  await assert.rejects(first, (e: GatehouseError) => e.code === 'GH_SESSION_STORE_UNAVAILABLE');
  const rb = await second;
  assert.equal(rb.tokens.accessToken, 'at-1', 'the other instance adopted the rotation once it was stored');
  assert.equal(provider.calls, 1);
  assert.equal(provider.familyRevoked, false, 'the consumed refresh token was never replayed');
  // The lock is free again: a later refresh of the session takes it at once.
  const lock = await storeB.tryLock('refresh:unsaved', 1000);
  assert.ok(lock);
  await lock.release();
});

test('while its refused rotation is stored in the background, this process answers 503 at once; the background never asks the provider, and lets the lock go once the kept copy is due', async (t) => {
  const clock = manualClock();
  const store = await RedisSessionStore.connect(REDIS_URL, { prefix, clock: clock.now });
  t.after(() => store.close());
  const provider = new RotatingProvider(clock);
  const coord = new RefreshCoordinator({ store, now: clock.now, pollMs: 10, waitMs: 5000 });
  const stale = await seed(store, 'refusing', clock, -1);
  const ops = unsavedOps(store, 'refusing', provider.grant, clock, { n: 1000 }); // the store keeps refusing
  await assert.rejects(coord.ensureFresh('refusing', stale, ops), (e: GatehouseError) => e.code === 'GH_SESSION_STORE_UNAVAILABLE');
  await assert.rejects(coord.ensureFresh('refusing', stale, ops), (e: GatehouseError) => e.code === 'GH_SESSION_STORE_UNAVAILABLE' && e.message === 'the refreshed session is not stored yet');
  assert.equal(await store.tryLock('refresh:refusing', 1000), undefined, 'the background holds the lock');
  // The kept rotation becomes due: storing it would need the provider, which the background never asks.
  clock.advance(301_000);
  let lock: Awaited<ReturnType<SessionStore['tryLock']>>;
  for (let i = 0; i < 200 && !lock; i++) {
    await sleep(50);
    lock = await store.tryLock('refresh:refusing', 1000);
  }
  assert.ok(lock, 'the lock was let go');
  await lock.release();
  assert.equal(provider.calls, 1, 'one grant, never another from the background');
  assert.equal(provider.familyRevoked, false);
});

test('a lock lost while the session is re-read (a renewal says it is gone, or none succeeds for a whole ttl) → 503 before the provider is asked; a renewed one refreshes', async () => {
  const clock = manualClock();
  const cases: { renewal: () => Promise<boolean>; refreshes: boolean }[] = [
    { renewal: () => Promise.resolve(false), refreshes: false }, // expired, perhaps taken elsewhere
    { renewal: () => Promise.reject(new Error('store unreachable')), refreshes: false },
    { renewal: () => Promise.resolve(true), refreshes: true },
  ];
  for (const { renewal, refreshes } of cases) {
    const store = new MemorySessionStore({ clock: clock.now, sweepIntervalMs: 0 });
    const provider = new RotatingProvider(clock);
    const stale = await seed(store, 's', clock, -1);
    let released = 0;
    const lockStore = {
      tryLock: () => Promise.resolve({ release: () => Promise.resolve(void released++), extend: renewal }),
    };
    const coord = new RefreshCoordinator({ store: lockStore, now: clock.now, lockTtlMs: 60, pollMs: 10, waitMs: 5000 });
    const ops = storeOps(store, 's', provider.grant, clock);
    // The re-read outlasts the lock's ttl: renewals fire meanwhile (every ttl/3).
    const slowOps = { ...ops, reload: async () => (await sleep(200), ops.reload()) };
    if (refreshes) {
      assert.equal((await coord.ensureFresh('s', stale, slowOps)).tokens.accessToken, 'at-1');
      assert.equal(provider.calls, 1);
    } else {
      await assert.rejects(coord.ensureFresh('s', stale, slowOps), (e: GatehouseError) => e.code === 'GH_PROVIDER_UNAVAILABLE' && /lapsed/.test(e.message));
      assert.equal(provider.calls, 0, 'the provider was never asked under a lost lock');
    }
    assert.equal(released, 1, 'the lock is released either way');
    await store.close();
  }
});

test('the provider refuses the grant → the session ends, every waiter gets GH_SESSION_EXPIRED', async () => {
  const clock = manualClock();
  const store = new MemorySessionStore({ clock: clock.now, sweepIntervalMs: 0 });
  const provider = new RotatingProvider(clock);
  provider.familyRevoked = true;
  const coord = new RefreshCoordinator({ store, now: clock.now });
  const stale = await seed(store, 's', clock, -1);
  const ops = storeOps(store, 's', provider.grant, clock);
  const settled = await Promise.allSettled(Array.from({ length: 5 }, () => coord.ensureFresh('s', stale, ops)));
  for (const r of settled) {
    assert.equal(r.status, 'rejected');
    assert.equal((r.reason as GatehouseError).code, 'GH_SESSION_EXPIRED');
    assert.equal((r.reason as GatehouseError).status, 401);
  }
  assert.equal(provider.calls, 1);
  assert.equal(await store.get('s'), undefined, 'session deleted');
  // A later request finds no session: still 401, and no further provider call.
  await assert.rejects(coord.ensureFresh('s', stale, ops), (e: GatehouseError) => e.code === 'GH_SESSION_EXPIRED');
  assert.equal(provider.calls, 1);
  await store.close();
});

test('the provider is down → GH_PROVIDER_UNAVAILABLE (503), the session is kept and refreshes once it is back', async () => {
  const clock = manualClock();
  const store = new MemorySessionStore({ clock: clock.now, sweepIntervalMs: 0 });
  const provider = new RotatingProvider(clock);
  provider.down = true;
  const coord = new RefreshCoordinator({ store, now: clock.now });
  const stale = await seed(store, 's', clock, -1);
  const ops = storeOps(store, 's', provider.grant, clock);
  await assert.rejects(coord.ensureFresh('s', stale, ops), (e: GatehouseError) => e.code === 'GH_PROVIDER_UNAVAILABLE' && e.status === 503);
  assert.equal(JSON.parse((await store.get('s'))?.data as string).refreshToken, 'rt-0', 'session kept as it was');
  provider.down = false;
  const fresh = await coord.ensureFresh('s', stale, ops);
  assert.equal(fresh.tokens.accessToken, 'at-2');
  await store.close();
});

test('after a refresh failed for want of the provider, a token still usable is not asked for again within retryAfterFailureMs (the same error, counted deferred); an unusable one is; a success forgets the failure', async () => {
  const clock = manualClock();
  const store = new MemorySessionStore({ clock: clock.now, sweepIntervalMs: 0 });
  const provider = new RotatingProvider(clock);
  provider.down = true;
  const outcomes: RefreshOutcome[] = [];
  const coord = new RefreshCoordinator({ store, now: clock.now, retryAfterFailureMs: 5000, onOutcome: (o) => outcomes.push(o) });
  const due = await seed(store, 's', clock, 20); // inside the 30 s skew, 20 s left
  const ops = storeOps(store, 's', provider.grant, clock);
  const first = await coord.ensureFresh('s', due, ops).then(
    () => assert.fail('the provider is down'),
    (e: unknown) => e,
  );
  assert.equal((first as GatehouseError).code, 'GH_PROVIDER_UNAVAILABLE');
  clock.advance(4999);
  await assert.rejects(coord.ensureFresh('s', due, ops), (e) => e === first);
  assert.equal(provider.calls, 1, 'not asked again within the interval');
  const expired = { ...due, tokens: { ...due.tokens, accessTokenExpiresAt: Math.floor(clock.now() / 1000) - 1 } };
  await assert.rejects(coord.ensureFresh('s', expired, ops), (e) => e !== first && (e as GatehouseError).code === 'GH_PROVIDER_UNAVAILABLE');
  assert.equal(provider.calls, 2, 'a token that cannot serve is never deferred');
  provider.down = false;
  assert.equal((await coord.ensureFresh('s', expired, ops)).tokens.accessToken, 'at-3');
  // The old state is still due; without the failure remembered it is reloaded, not deferred.
  assert.equal((await coord.ensureFresh('s', due, ops)).tokens.accessToken, 'at-3');
  assert.equal(provider.calls, 3);
  assert.deepEqual(outcomes, ['failed', 'deferred', 'failed', 'refreshed', 'adopted']);
  await store.close();
});

test('remembered refresh failures are bounded: the oldest session is forgotten first, and is asked again', async () => {
  const clock = manualClock();
  const store = new MemorySessionStore({ clock: clock.now, sweepIntervalMs: 0 });
  const provider = new RotatingProvider(clock);
  provider.down = true;
  const coord = new RefreshCoordinator({ store, now: clock.now, maxRememberedFailures: 2 });
  const states = await Promise.all(['a', 'b', 'c'].map((k) => seed(store, k, clock, 20)));
  for (const [i, k] of ['a', 'b', 'c'].entries()) {
    await assert.rejects(coord.ensureFresh(k, states[i] as State, storeOps(store, k, provider.grant, clock)));
  }
  assert.equal(provider.calls, 3);
  await assert.rejects(coord.ensureFresh('c', states[2] as State, storeOps(store, 'c', provider.grant, clock)));
  assert.equal(provider.calls, 3, 'c is remembered');
  await assert.rejects(coord.ensureFresh('a', states[0] as State, storeOps(store, 'a', provider.grant, clock)));
  assert.equal(provider.calls, 4, 'a was forgotten when c was remembered');
  await store.close();
});

test('a lock left by a crashed instance is taken over after its ttl; a lock never freed ends in 503', async () => {
  const clock = manualClock();
  const store = new MemorySessionStore({ clock: clock.now, sweepIntervalMs: 0 });
  const provider = new RotatingProvider(clock);
  const stale = await seed(store, 's', clock, -1);
  const ops = storeOps(store, 's', provider.grant, clock);
  assert.ok(await store.tryLock('refresh:s', 1000)); // crashed holder, never releases
  const coord = new RefreshCoordinator({ store, now: clock.now, pollMs: 5, waitMs: 5000 });
  const pending = coord.ensureFresh('s', stale, ops);
  await sleep(30);
  clock.advance(1001);
  assert.equal((await pending).tokens.accessToken, 'at-1');

  assert.ok(await store.tryLock('refresh:s', 10_000_000));
  const impatient = new RefreshCoordinator({ store, now: clock.now, pollMs: 5, waitMs: 50 });
  clock.advance(600_000);
  const staleAgain = (await ops.reload()) as State;
  await assert.rejects(impatient.ensureFresh('s', staleAgain, ops), (e: GatehouseError) => e.code === 'GH_PROVIDER_UNAVAILABLE');
  assert.equal(provider.calls, 1);
  await store.close();
});

test('mergeTokens keeps the old refresh and id tokens when the provider sends none', () => {
  const old = { accessToken: 'a0', accessTokenExpiresAt: 1, refreshToken: 'r0', idToken: 'i0', scope: 'openid' };
  assert.deepEqual(mergeTokens(old, { accessToken: 'a1', accessTokenExpiresAt: 2 }), { ...old, accessToken: 'a1', accessTokenExpiresAt: 2 });
  assert.deepEqual(mergeTokens(old, { accessToken: 'a1', accessTokenExpiresAt: 2, refreshToken: 'r1' }).refreshToken, 'r1');
  assert.equal(expiresWithin(100, 30, 69_000), false);
  assert.equal(expiresWithin(100, 30, 70_000), true);
});

test('outcomes are reported: one refreshed, the rest adopted; refused and failed', async () => {
  const clock = manualClock();
  const store = new MemorySessionStore({ clock: clock.now, sweepIntervalMs: 0 });
  const provider = new RotatingProvider(clock);
  const seen: string[] = [];
  const coord = new RefreshCoordinator({ store, now: clock.now, onOutcome: (o) => seen.push(o) });
  const stale = await seed(store, 's', clock, -1);
  const ops = storeOps(store, 's', provider.grant, clock);
  await Promise.all(Array.from({ length: 5 }, () => coord.ensureFresh('s', stale, ops)));
  assert.deepEqual(seen.sort(), ['adopted', 'adopted', 'adopted', 'adopted', 'refreshed']);
  seen.length = 0;
  clock.advance(400_000);
  provider.down = true;
  await assert.rejects(coord.ensureFresh('s', (await ops.reload()) as State, ops));
  provider.down = false;
  provider.familyRevoked = true;
  await assert.rejects(coord.ensureFresh('s', (await ops.reload()) as State, ops));
  assert.deepEqual(seen, ['failed', 'refused']);
  await store.close();
});

test('isRefreshDue: the skew is at most half the token\'s lifetime, so a token shorter than the skew is not due when it arrives', () => {
  const t = (issued: number | undefined, lifetime: number) => ({ accessToken: 'a', accessTokenExpiresAt: 1000 + lifetime, ...(issued === undefined ? {} : { accessTokenIssuedAt: issued }) });
  // 300 s token, 30 s skew: due 30 s before expiry.
  assert.equal(isRefreshDue(t(1000, 300), 30, 1269_000), false);
  assert.equal(isRefreshDue(t(1000, 300), 30, 1270_000), true);
  // 30 s token, 30 s skew: due at half its life, not at once.
  assert.equal(isRefreshDue(t(1000, 30), 30, 1000_000), false);
  assert.equal(isRefreshDue(t(1000, 30), 30, 1014_000), false);
  assert.equal(isRefreshDue(t(1000, 30), 30, 1015_000), true);
  // 300 s token, 6 min skew: due after 150 s.
  assert.equal(isRefreshDue(t(1000, 300), 360, 1149_000), false);
  assert.equal(isRefreshDue(t(1000, 300), 360, 1150_000), true);
  // A session stored before the issue time was recorded: the configured skew.
  assert.equal(isRefreshDue(t(undefined, 30), 30, 1000_000), true);
  // The issue time belongs to the new access token.
  assert.equal(mergeTokens({ ...t(1000, 30), refreshToken: 'r' }, { accessToken: 'b', accessTokenExpiresAt: 2000 }).accessTokenIssuedAt, undefined);
  assert.equal(mergeTokens(t(1000, 30), { accessToken: 'b', accessTokenExpiresAt: 2000, accessTokenIssuedAt: 1700 }).accessTokenIssuedAt, 1700);
});

test('UnsavedRotations: kept tokens are handed out only against the refresh token they replaced, until their time is up', () => {
  let now = 1_000_000;
  const unsaved = new UnsavedRotations(() => now, 60_000);
  const tokens = { accessToken: 'at2', accessTokenExpiresAt: 2000, refreshToken: 'rt2' };
  unsaved.keep('s1', 'rt1', tokens);
  assert.equal(unsaved.get('s2', 'rt1'), undefined, 'another session');
  assert.deepEqual(unsaved.get('s1', 'rt1'), tokens);
  assert.deepEqual(unsaved.get('s1', 'rt1'), tokens, 'kept until stored');
  unsaved.forget('s1');
  assert.equal(unsaved.get('s1', 'rt1'), undefined);
  unsaved.keep('s1', 'rt1', tokens);
  assert.equal(unsaved.get('s1', 'rt0'), undefined, 'the store moved on: stale, dropped');
  assert.equal(unsaved.get('s1', 'rt1'), undefined);
  unsaved.keep('s1', 'rt1', tokens);
  now += 60_000;
  assert.equal(unsaved.get('s1', 'rt1'), undefined, 'expired with the idle timeout');
  // Kept again after another failed write: the first deadline stands.
  unsaved.keep('s1', 'rt1', tokens);
  now += 40_000;
  unsaved.keep('s1', 'rt1', tokens);
  now += 20_000;
  assert.equal(unsaved.get('s1', 'rt1'), undefined, 'a store that keeps refusing does not keep the copy alive');
});
