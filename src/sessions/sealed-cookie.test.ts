import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { GatehouseError } from '../errors.js';
import { Keyring } from './crypto.js';
import { CookieSealer } from './sealed-cookie.js';

const k1 = { id: 'k1', secret: randomBytes(32) };
const k2 = { id: 'k2', secret: randomBytes(32) };
const invalid = (err: unknown) => err instanceof GatehouseError && err.code === 'GH_SESSION_INVALID' && err.status === 401;

/** What a browser would send back: name → value of each non-deleting Set-Cookie. */
function jar(setCookies: readonly string[]): Map<string, string> {
  const m = new Map<string, string>();
  for (const c of setCookies) {
    const [pair] = c.split(';');
    const eq = pair.indexOf('=');
    if (!/Max-Age=0/.test(c)) m.set(pair.slice(0, eq), pair.slice(eq + 1));
  }
  return m;
}

const big = (n: number) => ({ sid: 's1', access_token: randomBytes(n).toString('base64url'), refresh_token: 'rt' });

test('a small session seals into one cookie and opens again', async () => {
  const sealer = new CookieSealer({ keyring: new Keyring([k1]).derive('sealed-cookie') });
  const set = await sealer.seal({ sid: 's1', refresh_token: 'rt-secret' }, 3600);
  assert.equal(set.length, 1);
  assert.match(set[0], /^__Host-gh_s\.0=1~[^;]+; Path=\/; Max-Age=3600; Secure; HttpOnly; SameSite=Lax$/);
  assert.ok(!set[0].includes('rt-secret'));
  assert.deepEqual(await sealer.open(jar(set)), { sid: 's1', refresh_token: 'rt-secret' });
  assert.equal(await sealer.open(new Map()), undefined, 'no cookie: no session, not an error');
});

test('a large session is split under the per-cookie limit and reassembled', async () => {
  const sealer = new CookieSealer({ keyring: new Keyring([k1]) });
  const session = big(5000);
  const set = await sealer.seal(session, 60);
  assert.equal(set.length, 3);
  for (const c of set) assert.ok(Buffer.byteLength(c) < 4096, `cookie of ${Buffer.byteLength(c)} bytes`);
  assert.deepEqual(await sealer.open(jar(set)), session);
  // A shorter session later clears the chunks the browser still holds.
  const cookies = jar(set);
  const again = await sealer.seal({ sid: 's2' }, 60, cookies);
  assert.equal(again.length, 3);
  assert.equal(again.filter((c) => /Max-Age=0/.test(c)).length, 2);
  assert.ok(sealer.isOwnCookie('__Host-gh_s.3'));
  assert.ok(!sealer.isOwnCookie('__Host-gh_s.x'));
  assert.ok(!sealer.isOwnCookie('__Host-gh_sid'));
  // A fourth chunk would leave the browser's Cookie header no room within the 16 KiB header limit.
  await assert.rejects(sealer.seal(big(7000), 60), (e: unknown) => e instanceof GatehouseError && e.code === 'GH_LOGIN_FAILED');
});

test('tampering, truncation, a missing or extra chunk, or junk is GH_SESSION_INVALID', async () => {
  const sealer = new CookieSealer({ keyring: new Keyring([k1]) });
  const good = jar(await sealer.seal(big(6000), 60));
  const variant = (edit: (m: Map<string, string>) => void) => {
    const m = new Map(good);
    edit(m);
    return m;
  };
  const flipAt = (s: string, i: number) => s.slice(0, i) + (s[i] === 'A' ? 'B' : 'A') + s.slice(i + 1);
  const cases: [string, Map<string, string>][] = [
    ['flipped byte in chunk 0', variant((m) => m.set('__Host-gh_s.0', flipAt(m.get('__Host-gh_s.0') as string, 40)))],
    ['flipped byte in chunk 1', variant((m) => m.set('__Host-gh_s.1', flipAt(m.get('__Host-gh_s.1') as string, 10)))],
    ['truncated last chunk', variant((m) => m.set('__Host-gh_s.1', (m.get('__Host-gh_s.1') as string).slice(0, -5)))],
    ['missing chunk 1', variant((m) => m.delete('__Host-gh_s.1'))],
    ['missing chunk 0', variant((m) => m.delete('__Host-gh_s.0'))],
    ['count says 1', variant((m) => m.set('__Host-gh_s.0', `1~${(m.get('__Host-gh_s.0') as string).slice(2)}`))],
    ['no count', variant((m) => m.set('__Host-gh_s.0', (m.get('__Host-gh_s.0') as string).slice(2)))],
    ['count beyond max', variant((m) => m.set('__Host-gh_s.0', `9~${(m.get('__Host-gh_s.0') as string).slice(2)}`))],
    ['junk', new Map([['__Host-gh_s.0', '1~junk']])],
    ['empty', new Map([['__Host-gh_s.0', '']])],
    ['oversized chunk', new Map([['__Host-gh_s.0', `1~${'a'.repeat(5000)}`]])],
  ];
  for (const [label, cookies] of cases) await assert.rejects(sealer.open(cookies), invalid, label);
});

test('key rotation: old keys still open, a retired key does not, and alg/typ are not negotiable', async () => {
  const before = new CookieSealer({ keyring: new Keyring([k1]) });
  const sealed = jar(await before.seal({ sid: 'old' }, 60));
  const rotated = new CookieSealer({ keyring: new Keyring([k2, k1]) });
  assert.deepEqual(await rotated.open(sealed), { sid: 'old' });
  const fresh = await rotated.seal({ sid: 'new' }, 60);
  const header = JSON.parse(Buffer.from((jar(fresh).get('__Host-gh_s.0') as string).slice(2).split('.')[0], 'base64url').toString());
  assert.deepEqual(header, { alg: 'dir', enc: 'A256GCM', kid: 'k2', typ: 'gh-session+jwe' });
  const retired = new CookieSealer({ keyring: new Keyring([k2]) });
  await assert.rejects(retired.open(sealed), invalid);
  // A different purpose's keys (same ids) do not open it either.
  await assert.rejects(new CookieSealer({ keyring: new Keyring([k1]).derive('other') }).open(sealed), invalid);
});

test('clear deletes the chunks present, or all of them', () => {
  const sealer = new CookieSealer({ keyring: new Keyring([k1]), maxChunks: 3 });
  assert.equal(sealer.clear().length, 3);
  const cleared = sealer.clear(new Map([['__Host-gh_s.1', 'x'], ['other', 'y']]));
  assert.deepEqual(cleared.map((c) => c.split('=')[0]), ['__Host-gh_s.1']);
  assert.throws(() => new CookieSealer({ keyring: new Keyring([k1]), maxChunks: 0 }), RangeError);
});

test('the opened-session cache answers only the exact JWE: a cookie altered anywhere but its tag still fails', async () => {
  const sealer = new CookieSealer({ keyring: new Keyring([k1]), cacheEntries: 10 });
  for (const session of [{ sid: 's1', refresh_token: 'rt' }, big(5000)]) {
    const cookies = jar(await sealer.seal(session, 60));
    assert.deepEqual(await sealer.open(cookies), session, 'served (from the cache, sealed here)');
    for (const [name, value] of cookies) {
      // Flip a character in the middle of this chunk: the tag (the JWE's end) is unchanged.
      const at = Math.floor(value.length / 2);
      const altered = new Map(cookies).set(name, `${value.slice(0, at)}${value[at] === 'A' ? 'B' : 'A'}${value.slice(at + 1)}`);
      await assert.rejects(sealer.open(altered), invalid, `${name} altered`);
    }
    assert.deepEqual(await sealer.open(cookies), session, 'the untouched cookie still opens');
  }
});
