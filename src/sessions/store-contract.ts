import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { NOT_LOCAL, type HeldLock, type SessionEntry, type SessionStore } from './store.js';

/** A clock tests move by hand. */
export interface ManualClock {
  readonly now: () => number;
  advance(ms: number): void;
}

export function manualClock(start = Date.now()): ManualClock {
  let t = start;
  return { now: () => t, advance: (ms) => void (t += ms) };
}

const key = () => randomBytes(32).toString('base64url');
const entry = (data: string, version = 1, owner?: string): SessionEntry => ({ data, version, ...(owner ? { owner } : {}) });

/**
 * The one suite every SessionStore implementation passes. `create` gets the
 * clock the store must read expiry from.
 */
/**
 * Takes lock `name` once its holder's short ttl has run out, trying every 20 ms for up to 100
 * tries: memory expires by the injected clock, Redis by its own time, so both move.
 */
async function takeOverOnceExpired(clock: ManualClock, store: SessionStore, name: string): Promise<HeldLock | undefined> {
  let lock: HeldLock | undefined;
  for (let i = 0; i < 100 && !lock; i++) {
    clock.advance(60);
    await sleep(20);
    lock = await store.tryLock(name, 60_000);
  }
  return lock;
}

export function sessionStoreContract(name: string, create: (clock: ManualClock['now']) => Promise<SessionStore>): void {
  async function open(t: { after(fn: () => Promise<void>): void }) {
    const clock = manualClock();
    const store = await create(clock.now);
    t.after(() => store.close());
    return { clock, store };
  }

  test(`${name}: put then get round-trips the entry; missing keys are undefined`, async (t) => {
    const { clock, store } = await open(t);
    const k = key();
    assert.equal(await store.get(k), undefined);
    const data = `v1.k.${'x'.repeat(6000)}.é✓`;
    await store.put(k, entry(data, 3, 'owner-a'), 60);
    const got = await store.get(k);
    assert.deepEqual(got, { data, version: 3, owner: 'owner-a', expiresAtMs: clock.now() + 60_000 });
    assert.equal(await store.get(key()), undefined);
  });

  test(`${name}: peek, where it answers, agrees with get (present, replaced, expired, deleted)`, async (t) => {
    const { clock, store } = await open(t);
    const k = key();
    const agree = async (what: string) => {
      const expected = await store.get(k);
      const seen = store.peek ? store.peek(k) : NOT_LOCAL;
      if (seen !== NOT_LOCAL) assert.deepEqual(seen, expected, what);
      return seen !== NOT_LOCAL;
    };
    let answered = 0;
    if (await agree('absent')) answered++;
    await store.put(k, entry('a', 1, 'o'), 10);
    await store.get(k);
    if (await agree('present')) answered++;
    await store.replace(k, entry('b', 2, 'o'), 10, 1);
    if (await agree('replaced')) answered++;
    clock.advance(10_001);
    if (await agree('expired')) answered++;
    await store.put(k, entry('c', 3, 'o'), 10);
    await store.delete(k);
    if (await agree('deleted')) answered++;
    // A store that offers peek must answer at least from what it just read.
    if (store.peek !== undefined) assert.ok(answered > 0, 'peek never answered');
  });

  test(`${name}: entries expire by the store clock, and a put renews the ttl`, async (t) => {
    const { clock, store } = await open(t);
    const k = key();
    await store.put(k, entry('a'), 10);
    clock.advance(9_000);
    assert.equal((await store.get(k))?.data, 'a');
    await store.put(k, entry('b', 2), 10);
    clock.advance(9_000);
    assert.equal((await store.get(k))?.data, 'b', 'the second put restarted the ttl');
    clock.advance(1_001);
    assert.equal(await store.get(k), undefined);
  });

  test(`${name}: delete removes the entry and is a no-op when absent`, async (t) => {
    const { store } = await open(t);
    const k = key();
    await store.put(k, entry('a', 1, 'o'), 60);
    await store.delete(k);
    assert.equal(await store.get(k), undefined);
    assert.deepEqual(await store.listByOwner('o'), []);
    await store.delete(k);
    await store.delete(key());
  });

  test(`${name}: replace is compare-and-set on the version`, async (t) => {
    const { clock, store } = await open(t);
    const k = key();
    assert.equal(await store.replace(k, entry('x', 2), 60, 1), false, 'absent never matches');
    assert.equal(await store.get(k), undefined, 'a failed replace writes nothing');
    await store.put(k, entry('a', 1, 'o'), 60);
    assert.equal(await store.replace(k, entry('b', 2, 'o'), 60, 7), false);
    assert.equal((await store.get(k))?.data, 'a');
    assert.equal(await store.replace(k, entry('b', 2, 'o'), 60, 1), true);
    assert.deepEqual(await store.get(k), { data: 'b', version: 2, owner: 'o', expiresAtMs: clock.now() + 60_000 });
    assert.equal(await store.replace(k, entry('c', 3, 'o'), 60, 1), false, 'the old version no longer matches');
    clock.advance(61_000);
    assert.equal(await store.replace(k, entry('d', 3, 'o'), 60, 2), false, 'expired never matches');
  });

  test(`${name}: listByOwner lists live sessions of that owner only`, async (t) => {
    const { clock, store } = await open(t);
    const owner = `o-${key()}`;
    const other = `o-${key()}`;
    const [a, b, c, d] = [key(), key(), key(), key()];
    await store.put(a, entry('a', 1, owner), 60);
    await store.put(b, entry('b', 1, owner), 10);
    await store.put(c, entry('c', 1, owner), 60);
    await store.put(d, entry('d', 1, other), 60);
    await store.put(key(), entry('unindexed'), 60);
    assert.deepEqual((await store.listByOwner(owner)).sort(), [a, b, c].sort());
    await store.delete(c);
    clock.advance(11_000);
    assert.deepEqual(await store.listByOwner(owner), [a]);
    assert.deepEqual(await store.listByOwner(other), [d]);
    assert.deepEqual(await store.listByOwner(`o-${key()}`), []);
    // Rewriting keeps one membership, not two.
    await store.put(a, entry('a2', 2, owner), 60);
    assert.deepEqual(await store.listByOwner(owner), [a]);
  });

  test(`${name}: pinned entries are indexed by owner like any other (stateless logout markers are counted so)`, async (t) => {
    const { clock, store } = await open(t);
    const owner = `ended:${key()}`;
    const [a, b] = [key(), key()];
    await store.put(a, { data: '1', version: 1, owner, pinned: true }, 60);
    await store.put(b, { data: '2', version: 1, owner, pinned: true }, 10);
    assert.deepEqual((await store.listByOwner(owner)).sort(), [a, b].sort());
    assert.equal((await store.get(b))?.data, '2');
    clock.advance(11_000);
    assert.deepEqual(await store.listByOwner(owner), [a]);
    await store.delete(a);
    assert.deepEqual(await store.listByOwner(owner), []);
  });

  test(`${name}: tryLock is exclusive until released`, async (t) => {
    const { store } = await open(t);
    const name = `lock-${key()}`;
    const lock = await store.tryLock(name, 10_000);
    assert.ok(lock);
    assert.equal(await store.tryLock(name, 10_000), undefined);
    assert.ok(await store.tryLock(`${name}-other`, 10_000), 'other names are independent');
    await lock.release();
    const again = await store.tryLock(name, 10_000);
    assert.ok(again, 'free again after release');
    await again.release();
  });

  test(`${name}: a held lock can be extended past its first ttl; an expired one cannot, and its successor stays`, async (t) => {
    const { clock, store } = await open(t);
    const name = `lock-${key()}`;
    const lock = await store.tryLock(name, 200);
    assert.ok(lock);
    assert.equal(await lock.extend(60_000), true);
    // Past the first ttl on both clocks (memory: injected; Redis: its own): still held.
    clock.advance(1000);
    await sleep(300);
    assert.equal(await store.tryLock(name, 10_000), undefined, 'still held after the first ttl');
    await lock.release();
    const short = await store.tryLock(name, 50);
    assert.ok(short);
    const successor = await takeOverOnceExpired(clock, store, name);
    assert.ok(successor, 'the short lock expired and was taken over');
    assert.equal(await short.extend(60_000), false, 'an expired holder cannot extend');
    assert.equal(await store.tryLock(name, 60_000), undefined, 'and the successor still holds it');
    await successor.release();
  });

  test(`${name}: a lock expires, and a stale holder cannot release its successor's lock`, async (t) => {
    const { clock, store } = await open(t);
    const name = `lock-${key()}`;
    const first = await store.tryLock(name, 50);
    assert.ok(first);
    const second = await takeOverOnceExpired(clock, store, name);
    assert.ok(second, 'the expired lock was taken over');
    await first.release();
    assert.equal(await store.tryLock(name, 60_000), undefined, 'the stale release left the new holder alone');
    await second.release();
  });
}
