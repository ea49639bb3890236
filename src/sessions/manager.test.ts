import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { GatehouseError, type ErrorCode } from '../errors.js';
import { countPrefix, deletePrefix, randomPrefix, REDIS_URL, scanKeys } from '../../test/helpers/sessions.js';
import { Keyring } from './crypto.js';
import { endedSessions, type SessionManager } from './manager.js';
import { MemorySessionStore } from './memory/memory-store.js';
import { RedisSessionStore } from './redis/redis-store.js';
import { RefreshCoordinator, type SessionTokens } from './refresh.js';
import { newHandle, type SessionData } from './session.js';
import { StatefulSessions } from './stateful.js';
import { StatelessSessions } from './stateless.js';
import { manualClock, type ManualClock } from './store-contract.js';
import type { SessionStore } from './store.js';

const prefix = randomPrefix('mgr');
after(() => deletePrefix(REDIS_URL, prefix));

const IDLE = 900;
const ABSOLUTE = 8 * 3600;

/** Refresh-token rotation with reuse detection, counted. */
class Provider {
  calls = 0;
  down = false;
  revoked = false;
  current = 'rt-0';
  constructor(private readonly clock: ManualClock) {}
  readonly grant = async (rt: string): Promise<SessionTokens> => {
    this.calls++;
    await sleep(15);
    if (this.down) throw new GatehouseError('GH_PROVIDER_UNAVAILABLE', 'down');
    if (this.revoked || rt !== this.current) {
      this.revoked = true;
      throw new GatehouseError('GH_SESSION_EXPIRED', 'refresh token rejected');
    }
    this.current = `rt-${this.calls}`;
    return { accessToken: `at-${this.calls}`, accessTokenExpiresAt: Math.floor(this.clock.now() / 1000) + 300, refreshToken: this.current };
  };
}

type Mode = 'stateful' | 'stateless';

function build(
  mode: Mode,
  store: SessionStore,
  clock: ManualClock,
  provider: Provider,
  keyring = new Keyring([{ id: 'k1', secret: randomBytes(32) }]),
  touchIntervalSeconds = 0,
  limits: { maxSessionsPerUser?: number; maxMarkersPerUser?: number } = {},
): SessionManager {
  const deps = {
    store,
    keyring,
    timeouts: { idleSeconds: IDLE, absoluteSeconds: ABSOLUTE },
    grant: provider.grant,
    coordinator: new RefreshCoordinator({ store, now: clock.now, pollMs: 5 }),
    now: clock.now,
    skewSeconds: 30,
    touchIntervalSeconds,
  };
  const { maxMarkersPerUser, ...perUser } = limits;
  return mode === 'stateful' ? new StatefulSessions({ ...deps, ...perUser }) : new StatelessSessions({ ...deps, ...limits, ...(maxMarkersPerUser ? { maxMarkersPerUser } : {}) });
}

function login(clock: ManualClock, over: Partial<SessionData> = {}): SessionData {
  const now = clock.now();
  return {
    handle: newHandle(),
    issuer: 'https://idp.test',
    subject: 'alice',
    claims: { name: 'Alice' },
    tokens: { accessToken: 'at-0', accessTokenExpiresAt: Math.floor(now / 1000) + 300, refreshToken: 'rt-0', idToken: 'idt' },
    createdAt: now,
    lastSeenAt: now,
    userAgent: 'test-agent',
    ...over,
  };
}

/** The browser's view: applies Set-Cookie values to a jar. */
function apply(jar: Map<string, string>, setCookies: readonly string[]): Map<string, string> {
  const next = new Map(jar);
  for (const c of setCookies) {
    const pair = c.split(';')[0] as string;
    const eq = pair.indexOf('=');
    if (/Max-Age=0/.test(c)) next.delete(pair.slice(0, eq));
    else next.set(pair.slice(0, eq), pair.slice(eq + 1));
  }
  return next;
}

const code = (c: ErrorCode) => (e: unknown) => e instanceof GatehouseError && e.code === c;

for (const mode of ['stateful', 'stateless'] as const) {
  const setup = () => {
    const clock = manualClock();
    const store = new MemorySessionStore({ clock: clock.now, sweepIntervalMs: 0 });
    const provider = new Provider(clock);
    return { clock, store, provider, sessions: build(mode, store, clock, provider) };
  };

  test(`${mode}: login sets HttpOnly __Host- cookies; the session resumes from them alone`, async () => {
    const { clock, sessions } = setup();
    const data = login(clock);
    const set = (await sessions.create(data, new Map())).setCookies;
    assert.ok(set.length >= 1);
    for (const c of set) assert.match(c, /^__Host-gh_[a-z.0-9]+=[^;]+; Path=\/; Max-Age=28800; Secure; HttpOnly; SameSite=Lax$/);
    for (const c of set) assert.ok(!c.includes('rt-0') && !c.includes('at-0'));
    const jar = apply(new Map(), set);
    const resumed = await sessions.resume(jar);
    assert.equal(resumed?.data.subject, 'alice');
    assert.equal(resumed?.data.tokens.accessToken, 'at-0');
    assert.equal(await sessions.resume(new Map([['other', 'x']])), undefined, 'no session cookie: no session');
    for (const name of jar.keys()) assert.ok(sessions.isSessionCookie(name));
    assert.ok(!sessions.isSessionCookie('theme'));
  });

  test(`${mode}: resumeSync answers the plain case alone; ended, expiring, touched or unknown sessions go to resume`, async () => {
    const clock = manualClock();
    const store = new MemorySessionStore({ clock: clock.now, sweepIntervalMs: 0 });
    const sessions = build(mode, store, clock, new Provider(clock), undefined, 60);
    const jar = apply(new Map(), (await sessions.create(login(clock), new Map())).setCookies);
    assert.equal(sessions.resumeSync(new Map()), undefined, 'no cookie');
    await sessions.resume(jar);
    assert.equal(sessions.resumeSync(jar)?.data.subject, 'alice', 'a known session, nothing due');
    const [name, value] = [...jar][0] as [string, string];
    assert.equal(sessions.resumeSync(new Map([[name, `${value.slice(0, -2)}xx`]])), undefined, 'an altered cookie');

    clock.advance(61_000);
    assert.equal(sessions.resumeSync(jar), undefined, 'lastSeenAt is due for a write');
    const touched = apply(jar, (await sessions.resume(jar))?.setCookies ?? []);
    assert.equal(sessions.resumeSync(touched)?.data.lastSeenAt, clock.now(), 'the written session');

    clock.advance(230_000); // 9 s of the access token left: inside the skew
    assert.equal(sessions.resumeSync(touched), undefined, 'a refresh is due');
    const refreshed = apply(touched, (await sessions.resume(touched))?.setCookies ?? []);
    assert.equal(sessions.resumeSync(refreshed)?.data.tokens.accessToken, 'at-1');

    await sessions.destroy(refreshed);
    assert.equal(sessions.resumeSync(refreshed), undefined, 'after logout');
    await assert.rejects(sessions.resume(refreshed), code('GH_SESSION_EXPIRED'));
  });

  test(`${mode}: idle timeout, renewed by use; absolute timeout despite use`, async () => {
    const { clock, sessions, provider } = setup();
    provider.current = 'rt-0';
    let jar = apply(new Map(), (await sessions.create(login(clock, { tokens: { accessToken: 'at-0', accessTokenExpiresAt: 4e10, refreshToken: 'rt-0' } }), new Map())).setCookies);
    for (let i = 0; i < 3; i++) {
      clock.advance((IDLE - 1) * 1000);
      const r = await sessions.resume(jar);
      assert.ok(r, `still alive after ${i + 1} idle periods minus a second`);
      jar = apply(jar, r.setCookies);
    }
    clock.advance(IDLE * 1000);
    await assert.rejects(sessions.resume(jar), code('GH_SESSION_EXPIRED'));

    const fresh = setup();
    let jar2 = apply(new Map(), (await fresh.sessions.create(login(fresh.clock, { tokens: { accessToken: 'a', accessTokenExpiresAt: 4e10 } }), new Map())).setCookies);
    for (let t = 0; t < ABSOLUTE - 600; t += 600) {
      fresh.clock.advance(600_000);
      jar2 = apply(jar2, (await fresh.sessions.resume(jar2))?.setCookies ?? []);
    }
    fresh.clock.advance(600_000);
    await assert.rejects(fresh.sessions.resume(jar2), code('GH_SESSION_EXPIRED'));
  });

  test(`${mode}: an expiring access token is refreshed once for 30 concurrent requests`, async () => {
    const { clock, sessions, provider } = setup();
    const jar = apply(new Map(), (await sessions.create(login(clock), new Map())).setCookies);
    clock.advance(280_000); // 20 s left: inside the 30 s skew
    const results = await Promise.all(Array.from({ length: 30 }, () => sessions.resume(jar)));
    assert.equal(provider.calls, 1);
    assert.equal(provider.revoked, false);
    for (const r of results) assert.equal(r?.data.tokens.accessToken, 'at-1');
    const jar2 = apply(jar, results[0]?.setCookies ?? []);
    assert.equal((await sessions.resume(jar2))?.data.tokens.accessToken, 'at-1');
    // A straggler with the previous cookie (stateless) adopts the rotated tokens, no second refresh.
    assert.equal((await sessions.resume(jar))?.data.tokens.accessToken, 'at-1');
    assert.equal(provider.calls, 1);
  });

  test(`${mode}: refresh refused → session ended (401); provider down → 503 and the session is kept`, async () => {
    const { clock, sessions, provider } = setup();
    const jar = apply(new Map(), (await sessions.create(login(clock), new Map())).setCookies);
    clock.advance(400_000);
    provider.down = true;
    await assert.rejects(sessions.resume(jar), code('GH_PROVIDER_UNAVAILABLE'));
    provider.down = false;
    assert.equal((await sessions.resume(jar))?.data.tokens.accessToken, 'at-2', 'kept, and refreshed once the provider is back');

    const other = setup();
    const jar2 = apply(new Map(), (await other.sessions.create(login(other.clock), new Map())).setCookies);
    other.clock.advance(400_000);
    other.provider.revoked = true;
    await assert.rejects(other.sessions.resume(jar2), code('GH_SESSION_EXPIRED'));
    await assert.rejects(other.sessions.resume(jar2), code('GH_SESSION_EXPIRED'), 'stays ended');
    assert.equal(other.provider.calls, 1);
  });

  test(`${mode}: logout ends the session; the old cookie no longer works`, async () => {
    const { clock, sessions } = setup();
    const jar = apply(new Map(), (await sessions.create(login(clock), new Map())).setCookies);
    const ended = await sessions.destroy(jar);
    assert.equal(ended?.tokens.refreshToken, 'rt-0', 'the refresh token is handed back for revocation');
    await assert.rejects(sessions.resume(jar), code('GH_SESSION_EXPIRED'));
    const cleared = sessions.clearCookies(jar);
    assert.ok(cleared.length >= 1 && cleared.every((c) => /Max-Age=0/.test(c)));
    assert.equal(await sessions.destroy(new Map()), undefined);
  });

  test(`${mode}: login with a session cookie already present issues a fresh one and ends the old (no fixation)`, async () => {
    const { clock, sessions } = setup();
    const planted = apply(new Map(), (await sessions.create(login(clock, { subject: 'mallory' }), new Map())).setCookies);
    const set = (await sessions.create(login(clock), planted)).setCookies;
    const jar = apply(planted, set);
    for (const [name, value] of planted) assert.notEqual(jar.get(name), value, `${name} replaced`);
    assert.equal((await sessions.resume(jar))?.data.subject, 'alice');
    await assert.rejects(sessions.resume(planted), code('GH_SESSION_EXPIRED'), 'the planted session is over');
  });

  test(`${mode}: malformed or tampered cookies are GH_SESSION_INVALID`, async () => {
    const { clock, sessions } = setup();
    const jar = apply(new Map(), (await sessions.create(login(clock), new Map())).setCookies);
    const [name, value] = [...jar][0] as [string, string];
    const flipped = value.slice(0, 10) + (value[10] === 'A' ? 'B' : 'A') + value.slice(11);
    const bad = mode === 'stateful' ? ['short', `${value}x`, '!'.repeat(43)] : [flipped, value.slice(0, -3), 'junk'];
    for (const v of bad) await assert.rejects(sessions.resume(new Map([[name, v]])), code('GH_SESSION_INVALID'), v);
    if (mode === 'stateful') {
      // Well-formed but unknown: not found.
      await assert.rejects(sessions.resume(new Map([[name, flipped]])), code('GH_SESSION_EXPIRED'));
    }
  });
}

/** A fresh store of each kind, with the test's clock; Redis under its own prefix (owner indexes are per user, and every test's user is alice). */
const stores = {
  memory: async (clock: ManualClock) => new MemorySessionStore({ clock: clock.now, sweepIntervalMs: 0 }),
  redis: async (clock: ManualClock) => RedisSessionStore.connect(REDIS_URL, { prefix: `${prefix}${randomBytes(4).toString('hex')}:`, clock: clock.now }),
};

for (const [mode, kind] of [['stateful', 'memory'], ['stateless', 'memory'], ['stateless', 'redis']] as const) test(`${mode} (${kind}): list, end one, end all others — only the user's own sessions`, async (t) => {
  const clock = manualClock();
  const store = await stores[kind](clock);
  t.after(() => store.close());
  const sessions = build(mode, store, clock, new Provider(clock));
  const jars = [];
  for (let i = 0; i < 3; i++) {
    jars.push(apply(new Map(), (await sessions.create(login(clock, { userAgent: `ua-${i}` }), new Map())).setCookies));
    clock.advance(1000);
  }
  const bob = apply(new Map(), (await sessions.create(login(clock, { subject: 'bob' }), new Map())).setCookies);
  const me = (await sessions.resume(jars[0] as Map<string, string>))?.data as SessionData;
  const list = await sessions.list(me);
  assert.deepEqual(list.map((s) => [s.userAgent, s.current]), [['ua-0', true], ['ua-1', false], ['ua-2', false]]);
  const bobData = (await sessions.resume(bob))?.data as SessionData;
  assert.equal(await sessions.destroyHandle(me, bobData.handle), undefined, 'another user\'s session is not mine to end');
  assert.ok(await sessions.resume(bob));
  assert.ok(await sessions.destroyHandle(me, list[1]?.id as string));
  await assert.rejects(sessions.resume(jars[1] as Map<string, string>), code('GH_SESSION_EXPIRED'));
  assert.equal((await sessions.destroyOthers(me)).length, 1);
  await assert.rejects(sessions.resume(jars[2] as Map<string, string>), code('GH_SESSION_EXPIRED'));
  assert.ok(await sessions.resume(jars[0] as Map<string, string>), 'the current session survives');
  assert.ok(await sessions.resume(bob), 'other users untouched');
  assert.deepEqual((await sessions.list(me)).map((s) => [s.userAgent, s.current]), [['ua-0', true]]);
  assert.equal((await sessions.list(bobData)).length, 1);
});

for (const kind of ['memory', 'redis'] as const) test(`stateless (${kind}): the list shows last seen as of the latest re-seal, drops idle sessions and stays bounded per user`, async (t) => {
  const clock = manualClock();
  const store = await stores[kind](clock);
  t.after(() => store.close());
  const sessions = build('stateless', store, clock, new Provider(clock), undefined, 60, { maxSessionsPerUser: 3 });
  const forever = { tokens: { accessToken: 'a', accessTokenExpiresAt: 4e10 } };
  let a = apply(new Map(), (await sessions.create(login(clock, { userAgent: 'a', ...forever }), new Map())).setCookies);
  // As a browser: keeps the re-sealed cookie.
  const use = async () => {
    const r = await sessions.resume(a);
    a = apply(a, r?.setCookies ?? []);
    return r?.data as SessionData;
  };
  clock.advance(1000);
  const b = apply(new Map(), (await sessions.create(login(clock, { userAgent: 'b', ...forever }), new Map())).setCookies);
  const bornB = clock.now();
  clock.advance(61_000);
  const me = await use();
  const seen = Object.fromEntries((await sessions.list(me)).map((s) => [s.userAgent, s.lastSeenAt]));
  assert.deepEqual(seen, { a: new Date(clock.now()).toISOString(), b: new Date(bornB).toISOString() });
  // Past b's idle timeout while a keeps being used: b leaves the list.
  for (let i = 0; i < 20 && clock.now() - bornB < IDLE * 1000; i++) {
    clock.advance(60_000);
    await use();
  }
  assert.deepEqual((await sessions.list(await use())).map((s) => s.userAgent), ['a']);
  await assert.rejects(sessions.resume(b), code('GH_SESSION_EXPIRED'));
  // Bound 3: the fourth live login ends the oldest (a), which leaves the list and stops working.
  const more = [];
  for (const ua of ['c', 'd', 'e']) {
    clock.advance(1000);
    more.push(apply(new Map(), (await sessions.create(login(clock, { userAgent: ua, ...forever }), new Map())).setCookies));
  }
  const newest = (await sessions.resume(more[2] as Map<string, string>))?.data as SessionData;
  assert.deepEqual((await sessions.list(newest)).map((s) => s.userAgent), ['c', 'd', 'e']);
  await assert.rejects(sessions.resume(a), code('GH_SESSION_EXPIRED'));
});

for (const kind of ['memory', 'redis'] as const) test(`stateless (${kind}): one user looping login and logout fills nothing; every cookie it ended stays refused`, async (t) => {
  const clock = manualClock();
  const own = `${prefix}loop${randomBytes(4).toString('hex')}:`;
  const store = kind === 'memory' ? new MemorySessionStore({ maxEntries: 60, clock: clock.now, sweepIntervalMs: 0 }) : await RedisSessionStore.connect(REDIS_URL, { prefix: own, clock: clock.now });
  t.after(() => store.close());
  const sessions = build('stateless', store, clock, new Provider(clock), undefined, 0, { maxMarkersPerUser: 10 });
  const forever = { tokens: { accessToken: 'a', accessTokenExpiresAt: 4e10 } };
  const bobEarlier = apply(new Map(), (await sessions.create(login(clock, { subject: 'bob', ...forever }), new Map())).setCookies);
  const aliceElsewhere = apply(new Map(), (await sessions.create(login(clock, forever), new Map())).setCookies);
  const ended: Map<string, string>[] = [];
  // Well past the store's 60 entries: unbounded pinned markers made every write 503 from about the 60th.
  for (let i = 0; i < 150; i++) {
    clock.advance(1000);
    const jar = apply(new Map(), (await sessions.create(login(clock, forever), new Map())).setCookies);
    await sessions.destroy(jar);
    ended.push(jar);
  }
  if (kind === 'redis') assert.ok((await countPrefix(REDIS_URL, `${own}s:ended:`)) <= 10, 'at most maxMarkersPerUser markers');
  assert.ok(await sessions.resume(bobEarlier), 'another user is untouched');
  const bob = apply(new Map(), (await sessions.create(login(clock, { subject: 'bob', ...forever }), new Map())).setCookies);
  assert.ok(await sessions.resume(bob), 'another user can log in');
  await sessions.destroy(bob);
  await assert.rejects(sessions.resume(bob), code('GH_SESSION_EXPIRED'), 'and log out');
  // The collapse ends the looping user's sessions on every device.
  await assert.rejects(sessions.resume(aliceElsewhere), code('GH_SESSION_EXPIRED'));
  clock.advance(1000);
  const again = apply(new Map(), (await sessions.create(login(clock, forever), new Map())).setCookies);
  const me = (await sessions.resume(again))?.data as SessionData;
  assert.ok(me, 'a later login works');
  // An instance whose clock is behind ends the others: the cutoff is raised, never lowered.
  clock.advance(-60_000);
  await sessions.destroyOthers(me);
  assert.ok(await sessions.resume(again), 'the current session is kept');
  for (const [i, jar] of ended.entries()) await assert.rejects(sessions.resume(jar), code('GH_SESSION_EXPIRED'), `ended cookie ${i}`);
});

test('stateless: ending another device\'s session past the marker bound collapses into the cutoff but keeps the current session', async () => {
  const clock = manualClock();
  const store = new MemorySessionStore({ clock: clock.now, sweepIntervalMs: 0 });
  const sessions = build('stateless', store, clock, new Provider(clock), undefined, 0, { maxMarkersPerUser: 3 });
  const forever = { tokens: { accessToken: 'a', accessTokenExpiresAt: 4e10 } };
  const others = [];
  for (let i = 0; i < 4; i++) others.push(apply(new Map(), (await sessions.create(login(clock, { userAgent: `ua-${i}`, ...forever }), new Map())).setCookies));
  const mine = apply(new Map(), (await sessions.create(login(clock, forever), new Map())).setCookies);
  const me = (await sessions.resume(mine))?.data as SessionData;
  // Three markers, then the fourth collapses.
  for (const s of (await sessions.list(me)).filter((l) => !l.current)) assert.ok(await sessions.destroyHandle(me, s.id));
  for (const jar of others) await assert.rejects(sessions.resume(jar), code('GH_SESSION_EXPIRED'));
  assert.ok(await sessions.resume(mine), 'the session that ended them is kept');
  assert.deepEqual((await sessions.list(me)).map((s) => s.current), [true]);
  clock.advance(1000);
  for (let i = 0; i < 3; i++) await sessions.destroy(apply(new Map(), (await sessions.create(login(clock, forever), new Map())).setCookies));
  clock.advance(1000);
  const later = apply(new Map(), (await sessions.create(login(clock, forever), mine)).setCookies);
  assert.ok(await sessions.resume(later), 'a login replacing a session past the bound survives the collapse it causes');
  await assert.rejects(sessions.resume(mine), code('GH_SESSION_EXPIRED'));
});

for (const kind of ['memory', 'redis'] as const) test(`stateful (${kind}): one user looping logins holds at most maxSessionsPerUser and evicts no one else`, async (t) => {
  const clock = manualClock();
  const store = kind === 'memory' ? new MemorySessionStore({ maxEntries: 60, clock: clock.now, sweepIntervalMs: 0 }) : await stores.redis(clock);
  t.after(() => store.close());
  const sessions = build('stateful', store, clock, new Provider(clock), undefined, 0, { maxSessionsPerUser: 10 });
  const forever = { tokens: { accessToken: 'a', accessTokenExpiresAt: 4e10 } };
  const bob = apply(new Map(), (await sessions.create(login(clock, { subject: 'bob', ...forever }), new Map())).setCookies);
  const jars: Map<string, string>[] = [];
  for (let i = 0; i < 150; i++) {
    clock.advance(1000);
    jars.push(apply(new Map(), (await sessions.create(login(clock, forever), new Map())).setCookies));
  }
  assert.ok(await sessions.resume(bob), 'another user\'s earlier session is still alive');
  const me = (await sessions.resume(jars[149] as Map<string, string>))?.data as SessionData;
  assert.equal((await sessions.list(me)).length, 10);
  for (const jar of jars.slice(0, -10)) await assert.rejects(sessions.resume(jar), code('GH_SESSION_EXPIRED'), 'the oldest ended');
  for (const jar of jars.slice(-10)) assert.ok(await sessions.resume(jar), 'the newest kept');
});

test('endedSessions: a refresh token is handed back only when every remaining session came from another provider session (sid)', () => {
  const revocable = (ending: { refreshToken?: string; sid?: string }[], remaining: { sid?: string }[]) => endedSessions(ending, remaining).map((e) => e.refreshToken);
  assert.deepEqual(revocable([{ refreshToken: 'rt-x', sid: 'x' }], [{ sid: 'y' }, { sid: 'z' }]), ['rt-x']);
  assert.deepEqual(revocable([{ refreshToken: 'rt-x', sid: 'x' }], [{ sid: 'y' }, { sid: 'x' }]), [undefined], 'a remaining session shares the grant');
  assert.deepEqual(revocable([{ refreshToken: 'rt-x', sid: 'x' }], [{ sid: 'y' }, {}]), [undefined], 'a remaining session may share it: its sid is unknown');
  assert.deepEqual(revocable([{ refreshToken: 'rt-x' }], [{ sid: 'y' }]), [undefined], 'the ending session\'s sid is unknown');
  assert.deepEqual(revocable([{ refreshToken: 'rt-x' }, { refreshToken: 'rt-x2', sid: 'x' }], []), ['rt-x', 'rt-x2'], 'none remains to share it');
  assert.deepEqual(revocable([{ sid: 'x' }], [{ sid: 'y' }]), [undefined], 'no refresh token held');
});

/** A login from provider session `sid` (none when undefined) holding refresh token `rt`, whose access token never expires. */
const loginWith = (clock: ManualClock, rt: string, sid: string | undefined, over: Partial<SessionData> = {}) =>
  login(clock, { claims: sid === undefined ? {} : { sid }, tokens: { accessToken: 'a', accessTokenExpiresAt: 4e10, refreshToken: rt }, userAgent: rt, ...over });

const revocable = (ended: readonly { refreshToken?: string }[] | undefined) => (ended ?? []).map((e) => e.refreshToken ?? '-');

for (const mode of ['stateful', 'stateless'] as const) {
  test(`${mode}: ending sessions hands back a refresh token only when no session that lives on may share its grant (the same sid, or an unknown one)`, async () => {
    const clock = manualClock();
    const store = new MemorySessionStore({ clock: clock.now, sweepIntervalMs: 0 });
    const sessions = build(mode, store, clock, new Provider(clock));
    const loginAs = async (rt: string, sid: string | undefined) => {
      clock.advance(1000);
      return apply(new Map(), (await sessions.create(loginWith(clock, rt, sid), new Map())).setCookies);
    };
    const idOf = async (me: SessionData, rt: string) => (await sessions.list(me)).find((s) => s.userAgent === rt)?.id as string;
    // Two tabs of one provider session (x), and this device (y).
    await loginAs('rt-a', 'x');
    await loginAs('rt-b', 'x');
    const me = (await sessions.resume(await loginAs('rt-me', 'y')))?.data as SessionData;
    assert.deepEqual(revocable(await sessions.destroyHandle(me, await idOf(me, 'rt-a'))), ['-'], 'b lives on, on the same grant');
    assert.deepEqual(revocable(await sessions.destroyOthers(me)), ['rt-b'], 'only this device lives on, from another provider session');
    // A session whose provider sent no sid is never revoked, nor one while such a session lives on.
    await loginAs('rt-c', undefined);
    await loginAs('rt-d', 'z');
    assert.deepEqual(revocable(await sessions.destroyHandle(me, await idOf(me, 'rt-d'))), ['-'], 'c might share d\'s grant');
    assert.deepEqual(revocable(await sessions.destroyHandle(me, await idOf(me, 'rt-c'))), ['-'], 'c\'s own grant is unknown');
    await loginAs('rt-e', 'w');
    assert.deepEqual(revocable(await sessions.destroyHandle(me, await idOf(me, 'rt-e'))), ['rt-e']);
    assert.deepEqual(revocable(await sessions.destroyHandle(me, me.handle)), ['rt-me'], 'ending itself, with no other session left');
  });

  test(`${mode}: a login beyond the per-user bound hands back the refresh tokens of the oldest sessions it ended, under the same rule`, async () => {
    const clock = manualClock();
    const store = new MemorySessionStore({ clock: clock.now, sweepIntervalMs: 0 });
    const sessions = build(mode, store, clock, new Provider(clock), undefined, 0, { maxSessionsPerUser: 2 });
    const loginAs = async (rt: string, sid: string) => {
      clock.advance(1000);
      return sessions.create(loginWith(clock, rt, sid), new Map());
    };
    assert.deepEqual((await loginAs('rt-1', 'x')).ended, []);
    assert.deepEqual((await loginAs('rt-2', 'y')).ended, []);
    assert.deepEqual(revocable((await loginAs('rt-3', 'x')).ended), ['-'], 'the oldest (x) ended, but the new login is on its grant');
    assert.deepEqual(revocable((await loginAs('rt-4', 'z')).ended), ['rt-2'], 'the oldest (y) ended, and no session left shares its grant');
  });
}

test('stateless: a collapse into the cutoff hands back the refresh tokens of every session it ended, under the same rule', async () => {
  const clock = manualClock();
  const store = new MemorySessionStore({ clock: clock.now, sweepIntervalMs: 0 });
  const sessions = build('stateless', store, clock, new Provider(clock), undefined, 0, { maxMarkersPerUser: 3 });
  const loginAs = async (rt: string, sid: string, jar = new Map<string, string>()) => {
    clock.advance(1000);
    return sessions.create(loginWith(clock, rt, sid), jar);
  };
  const logoutThree = async () => {
    for (let i = 0; i < 3; i++) await sessions.destroy(apply(new Map(), (await loginAs(`rt-gone-${i}`, 'v')).setCookies));
  };
  await logoutThree();
  for (const [rt, sid] of [['rt-o0', 'a'], ['rt-o1', 'b'], ['rt-o2', 'm']] as const) await loginAs(rt, sid);
  const mine = apply(new Map(), (await loginAs('rt-me', 'm')).setCookies);
  const me = (await sessions.resume(mine))?.data as SessionData;
  const target = (await sessions.list(me)).find((s) => s.userAgent === 'rt-o0')?.id as string;
  // Three live markers: ending o0 collapses into the cutoff, which ends o1 and o2 as well.
  const ended = await sessions.destroyHandle(me, target);
  assert.deepEqual(revocable(ended).sort(), ['-', 'rt-o0', 'rt-o1'], 'o2 came from this session\'s provider session');
  assert.deepEqual((await sessions.list(me)).map((s) => s.userAgent), ['rt-me']);
  // A login replacing the presented session past the bound: its collapse ends p, which it hands back.
  await logoutThree();
  await loginAs('rt-p', 'p');
  const created = await loginAs('rt-new', 'n', mine);
  assert.deepEqual(revocable(created.ended), ['rt-p']);
});

test('stateless on Redis: the session index holds no token, no cookie value, no subject, no user agent', async (t) => {
  const clock = manualClock();
  const own = `${prefix}sdump:`;
  const store = await RedisSessionStore.connect(REDIS_URL, { prefix: own, clock: clock.now });
  t.after(() => store.close());
  const sessions = build('stateless', store, clock, new Provider(clock));
  const data = login(clock, { subject: 'alice-unique-subject', tokens: { accessToken: 'AT-SECRET-VALUE', accessTokenExpiresAt: 4e10, refreshToken: 'RT-SECRET-VALUE' } });
  const jar = apply(new Map(), (await sessions.create(data, new Map())).setCookies);
  const redis = new Redis(REDIS_URL);
  t.after(() => redis.quit());
  const keys = await scanKeys(redis, own);
  assert.equal(keys.length, 2, 'index entry and owner index');
  let dump = keys.join('\n');
  for (const k of keys) dump += JSON.stringify((await redis.type(k)) === 'hash' ? await redis.hgetall(k) : await redis.zrange(k, '0', '-1'));
  for (const secret of [...jar.values(), 'AT-SECRET-VALUE', 'RT-SECRET-VALUE', 'alice-unique-subject', 'test-agent']) assert.ok(!dump.includes(secret), secret);
  assert.equal((await sessions.list(data))[0]?.userAgent, 'test-agent');
});

test('stateful on Redis: a store dump holds no session id, no token, no subject', async (t) => {
  const clock = manualClock();
  const own = `${prefix}dump:`;
  const store = await RedisSessionStore.connect(REDIS_URL, { prefix: own, clock: clock.now });
  t.after(() => store.close());
  const sessions = build('stateful', store, clock, new Provider(clock));
  const data = login(clock, { subject: 'alice-unique-subject', tokens: { accessToken: 'AT-SECRET-VALUE', accessTokenExpiresAt: 4e10, refreshToken: 'RT-SECRET-VALUE' } });
  const jar = apply(new Map(), (await sessions.create(data, new Map())).setCookies);
  const id = jar.get('__Host-gh_sid') as string;
  const redis = new Redis(REDIS_URL);
  t.after(() => redis.quit());
  const keys = await scanKeys(redis, own);
  assert.equal(keys.length, 2, 'entry and owner index');
  let dump = keys.join('\n');
  for (const k of keys) dump += JSON.stringify((await redis.type(k)) === 'hash' ? await redis.hgetall(k) : await redis.zrange(k, '0', '-1'));
  for (const secret of [id, 'AT-SECRET-VALUE', 'RT-SECRET-VALUE', 'alice-unique-subject', 'test-agent']) assert.ok(!dump.includes(secret), secret);
  assert.equal((await sessions.resume(jar))?.data.tokens.accessToken, 'AT-SECRET-VALUE');
});

test('stateful: key rotation keeps sessions readable; a retired key ends them', async () => {
  const clock = manualClock();
  const store = new MemorySessionStore({ clock: clock.now, sweepIntervalMs: 0 });
  const k1 = { id: 'k1', secret: randomBytes(32) };
  const k2 = { id: 'k2', secret: randomBytes(32) };
  const before = build('stateful', store, clock, new Provider(clock), new Keyring([k1]));
  const jar = apply(new Map(), (await before.create(login(clock), new Map())).setCookies);
  const rotated = build('stateful', store, clock, new Provider(clock), new Keyring([k2, k1]));
  assert.ok(await rotated.resume(jar));
  const retired = build('stateful', store, clock, new Provider(clock), new Keyring([k2]));
  clock.advance(1);
  // The touch above re-encrypted the record under k2, so it survives k1's retirement.
  assert.ok(await retired.resume(jar));
  const old = apply(new Map(), (await before.create(login(clock), new Map())).setCookies);
  await assert.rejects(retired.resume(old), code('GH_SESSION_INVALID'));
});

test('stateless across two instances on one Redis: one refresh, logout seen by both', async (t) => {
  const clock = manualClock();
  const keyring = new Keyring([{ id: 'k1', secret: randomBytes(32) }]);
  const storeA = await RedisSessionStore.connect(REDIS_URL, { prefix, clock: clock.now });
  const storeB = await RedisSessionStore.connect(REDIS_URL, { prefix, clock: clock.now });
  const provider = new Provider(clock);
  const a = build('stateless', storeA, clock, provider, keyring);
  const b = build('stateless', storeB, clock, provider, keyring);
  t.after(async () => {
    await a.close();
    await b.close();
  });
  const jar = apply(new Map(), (await a.create(login(clock), new Map())).setCookies);
  clock.advance(400_000);
  const results = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).resume(jar)));
  assert.equal(provider.calls, 1);
  assert.equal(provider.revoked, false);
  for (const r of results) assert.equal(r?.data.tokens.accessToken, 'at-1');
  await a.destroy(jar);
  await assert.rejects(b.resume(jar), code('GH_SESSION_EXPIRED'));
});

test('stateless: "end all other sessions" ends older sessions of the user, keeps the current one and later logins', async () => {
  const clock = manualClock();
  const store = new MemorySessionStore({ clock: clock.now, sweepIntervalMs: 0 });
  const sessions = build('stateless', store, clock, new Provider(clock));
  const other = apply(new Map(), (await sessions.create(login(clock, { tokens: { accessToken: 'a', accessTokenExpiresAt: 4e10 } }), new Map())).setCookies);
  clock.advance(1000);
  const mineJar = apply(new Map(), (await sessions.create(login(clock, { tokens: { accessToken: 'a', accessTokenExpiresAt: 4e10 } }), new Map())).setCookies);
  const bob = apply(new Map(), (await sessions.create(login(clock, { subject: 'bob', tokens: { accessToken: 'a', accessTokenExpiresAt: 4e10 } }), new Map())).setCookies);
  const me = (await sessions.resume(mineJar))?.data as SessionData;
  assert.deepEqual((await sessions.list(me)).map((s) => s.current), [false, true]);
  assert.equal((await sessions.destroyOthers(me)).length, 1);
  await assert.rejects(sessions.resume(other), code('GH_SESSION_EXPIRED'));
  assert.ok(await sessions.resume(mineJar), 'current kept');
  assert.ok(await sessions.resume(bob), 'other users untouched');
  clock.advance(1000);
  const later = apply(new Map(), (await sessions.create(login(clock, { tokens: { accessToken: 'a', accessTokenExpiresAt: 4e10 } }), new Map())).setCookies);
  assert.ok(await sessions.resume(later), 'a later login is not affected');
  assert.equal(await sessions.destroyHandle(me, 'not-mine'), undefined);
});

test('stateful: the decrypted-session cache never hides a write made by another instance', async () => {
  const clock = manualClock();
  const store = new MemorySessionStore({ clock: clock.now, sweepIntervalMs: 0 });
  const keyring = new Keyring([{ id: 'k1', secret: randomBytes(32) }]);
  const provider = new Provider(clock);
  const a = build('stateful', store, clock, provider, keyring);
  const b = build('stateful', store, clock, provider, keyring);
  const jar = apply(new Map(), (await a.create(login(clock), new Map())).setCookies);
  assert.equal((await a.resume(jar))?.data.tokens.accessToken, 'at-0', 'A has it cached now');
  clock.advance(400_000);
  assert.equal((await b.resume(jar))?.data.tokens.accessToken, 'at-1', 'B refreshed');
  assert.equal((await a.resume(jar))?.data.tokens.accessToken, 'at-1', 'A sees the rotation, not its cached copy');
  assert.equal(provider.calls, 1);
  await b.destroy(jar);
  await assert.rejects(a.resume(jar), code('GH_SESSION_EXPIRED'));
});
