import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { Keyring } from './crypto.js';
import { LoginTransactions, type LoginTransaction } from './login-transactions.js';
import { MAX_RETURN_TO_LENGTH } from './return-to.js';

const TTL = 600;

function setup(maxPending?: number) {
  let now = 1_800_000_000_000;
  const clock = { now: () => now, advance: (ms: number) => (now += ms) };
  const tx = new LoginTransactions({ keyring: new Keyring([{ id: 'k1', secret: randomBytes(32) }]).derive('login-transaction'), ttlSeconds: TTL, now: clock.now, maxPending });
  const transaction = (): LoginTransaction => ({
    state: randomBytes(32).toString('base64url'),
    nonce: 'n',
    verifier: 'v',
    returnTo: '/app',
    startedAt: clock.now(),
  });
  return { tx, clock, transaction };
}

/** The browser: applies Set-Cookie values (a Max-Age=0 one deletes). */
function apply(jar: Map<string, string>, setCookies: readonly string[]): Map<string, string> {
  const next = new Map(jar);
  for (const c of setCookies) {
    const [pair] = c.split(';') as [string];
    const name = pair.slice(0, pair.indexOf('='));
    if (/Max-Age=0/.test(c)) next.delete(name);
    else next.set(name, pair.slice(pair.indexOf('=') + 1));
  }
  return next;
}

test('each login has its own HttpOnly __Host- cookie; the callback takes the one its state names, once', async () => {
  const { tx, transaction } = setup();
  const a = transaction();
  const b = transaction();
  let jar = apply(new Map(), await tx.begin(a, new Map()));
  jar = apply(jar, await tx.begin(b, jar));
  assert.equal(jar.size, 2, 'both logins in flight');
  for (const name of jar.keys()) {
    assert.match(name, /^__Host-gh_login_[A-Za-z0-9_-]{16}\.0$/);
    assert.ok(tx.isOwnCookie(name));
  }
  const takeA = await tx.take(a.state, jar);
  assert.equal(takeA.transaction?.state, a.state);
  jar = apply(jar, takeA.setCookies);
  assert.equal(jar.size, 1, 'only A cleared');
  assert.equal((await tx.take(a.state, jar)).transaction, undefined, 'single use');
  assert.equal((await tx.take(b.state, jar)).transaction?.verifier, 'v', 'B still completes');
  assert.ok(!tx.isOwnCookie('__Host-gh_sid') && !tx.isOwnCookie('__Host-gh_login_x'));
});

test('a state sharing the cookie name but not the whole value, a junk or missing state, an expired login: no transaction', async () => {
  const { tx, clock, transaction } = setup();
  const a = transaction();
  const jar = apply(new Map(), await tx.begin(a, new Map()));
  const forged = `${a.state.slice(0, 16)}${'A'.repeat(a.state.length - 16)}`;
  assert.equal((await tx.take(forged, jar)).transaction, undefined);
  for (const bad of [null, '', 'short', 'has space in it, long enough', '../../etc/passwd/abcdefgh']) {
    assert.equal((await tx.take(bad, jar)).transaction, undefined, String(bad));
  }
  const tampered = new Map([...jar].map(([k, v]) => [k, `${v.slice(0, -4)}AAAA`]));
  assert.equal((await tx.take(a.state, tampered)).transaction, undefined, 'tampered');
  clock.advance(TTL * 1000 + 1);
  assert.equal((await tx.take(a.state, jar)).transaction, undefined, 'expired');
});

test('at most maxPending logins are kept: starting another drops the oldest, and expired ones go first', async () => {
  const { tx, clock, transaction } = setup(3);
  const started: LoginTransaction[] = [];
  let jar = new Map<string, string>();
  for (let i = 0; i < 5; i++) {
    const t = transaction();
    started.push(t);
    jar = apply(jar, await tx.begin(t, jar));
    clock.advance(1000);
  }
  assert.equal(jar.size, 3);
  const kept = await Promise.all(started.map(async (t) => (await tx.take(t.state, jar)).transaction !== undefined));
  assert.deepEqual(kept, [false, false, true, true, true], 'the newest three');

  clock.advance(TTL * 1000);
  jar = apply(jar, await tx.begin(transaction(), jar));
  assert.equal(jar.size, 1, 'the expired ones are cleared when the next login starts');
});

test('a request flooded with transaction cookies costs a bounded number of decryptions; all junk is cleared', async () => {
  const { tx, transaction } = setup();
  const jar = new Map<string, string>();
  for (let i = 0; i < 40; i++) jar.set(`__Host-gh_login_${String(i).padStart(16, 'x')}.0`, `1~junk${i}`);
  const after = apply(jar, await tx.begin(transaction(), jar));
  assert.equal(after.size, 1, 'only the new login remains');
});

test('a transaction cookie whose id is not of the shape the gateway makes is ignored, not cleared (its name may not even be a cookie token)', async () => {
  const { tx, transaction } = setup();
  const foreign = ['__Host-gh_login_a b.0', '__Host-gh_login_ab(c.0', '__Host-gh_login_a/b.0', '__Host-gh_login_abc.0', `__Host-gh_login_${'x'.repeat(17)}.0`];
  const jar = new Map(foreign.map((name) => [name, 'x']));
  const setCookies = await tx.begin(transaction(), jar);
  assert.equal(setCookies.length, 1, 'only the new login is set');
  assert.match(setCookies[0] as string, /^__Host-gh_login_[A-Za-z0-9_-]{16}\.0=/);
  for (const name of foreign) assert.ok(!tx.isOwnCookie(name), name);
});

test('any return_to /auth/login accepts fits the one-cookie transaction, under the longest key id the config allows', async () => {
  const keyring = new Keyring([{ id: 'k'.repeat(64), secret: randomBytes(32) }]).derive('login-transaction');
  const tx = new LoginTransactions({ keyring, ttlSeconds: TTL, now: Date.now });
  const state = randomBytes(32).toString('base64url');
  // openid-client's nonce and verifier are 43 characters, like state; a longer one leaves room.
  const t: LoginTransaction = { state, nonce: 'n'.repeat(64), verifier: 'v'.repeat(128), returnTo: `/${'a'.repeat(MAX_RETURN_TO_LENGTH - 1)}`, startedAt: Date.now() };
  const set = await tx.begin(t, new Map());
  assert.equal(set.length, 1);
  assert.ok(Buffer.byteLength(set[0] as string) < 4096, 'under the browser limit per cookie');
});
