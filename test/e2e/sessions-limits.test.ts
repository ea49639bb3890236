import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SessionData } from '../../src/sessions/session.js';
import { offsetClock, openStatelessSession, rawRequest, startSessionStack, testSealer, type Echo } from '../helpers/session-stack.js';

// What a browser sends besides the session: ~1 KB of ordinary headers and ~2 KB of other cookies.
const browserHeaders = {
  'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
  accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7',
  'accept-language': 'en-GB,en-US;q=0.9,en;q=0.8,de;q=0.7',
  'accept-encoding': 'gzip, deflate, br, zstd',
  'sec-ch-ua': '"Google Chrome";v="131", "Chromium";v="131", "Not_A Brand";v="24"',
  'sec-ch-ua-mobile': '?0',
  'sec-ch-ua-platform': '"Linux"',
  'sec-fetch-site': 'same-origin',
  'sec-fetch-mode': 'cors',
  'sec-fetch-dest': 'empty',
  referer: `https://app.example.com/orders/${'x'.repeat(300)}`,
};
const otherCookies = Array.from({ length: 8 }, (_, i) => `_analytics_${i}=${'v'.repeat(240)}`).join('; ');

/** `session` with claims padded so that it seals into as many cookies as it can without exceeding `chunks`. */
async function paddedTo(session: SessionData, chunks: number, keys: readonly { id: string; secret: string }[]): Promise<SessionData> {
  const sealer = testSealer(keys);
  const withPad = (n: number): SessionData => ({ ...session, claims: { ...session.claims, pad: 'p'.repeat(n) } });
  let lo = 0;
  let hi = 4000 * chunks;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if ((await sealer.seal(withPad(mid), 60)).length <= chunks) lo = mid;
    else hi = mid - 1;
  }
  return withPad(lo);
}

const cookieHeaderOf = (setCookies: readonly string[]) => setCookies.map((c) => c.split(';')[0]).join('; ');

test('stateless: sessions sealing into 2 and 3 cookies (the most) are read back through the gateway beside a browser\'s other headers and cookies', async (t) => {
  const stack = await startSessionStack({ mode: 'stateless' });
  t.after(() => stack.close());
  const { jar } = await stack.login();
  const real = await openStatelessSession(stack.keys, jar.header());
  for (const chunks of [2, 3]) {
    const set = await testSealer(stack.keys).seal(await paddedTo(real, chunks, stack.keys), 3600);
    assert.equal(set.length, chunks);
    const r = await rawRequest(`${stack.url}/api/orders`, { headers: { ...browserHeaders, cookie: `${cookieHeaderOf(set)}; ${otherCookies}` } });
    assert.equal(r.status, 200, `${chunks} cookies: ${r.body.slice(0, 200)}`);
    assert.equal(r.json<Echo>().authorization, `Bearer ${real.tokens.accessToken}`);
  }
});

test('stateless: a session that no longer fits in 3 cookies after a refresh is refused at sealing: 401 GH_SESSION_EXPIRED, cookies cleared, no unreadable cookie set', async (t) => {
  const clock = offsetClock();
  const stack = await startSessionStack({ mode: 'stateless', now: clock.now });
  t.after(() => stack.close());
  const { jar } = await stack.login();
  const real = await openStatelessSession(stack.keys, jar.header());
  assert.ok(real.tokens.idToken && real.tokens.refreshToken);
  // As full as 3 cookies allow, without the ID token: the refresh brings a new one back.
  const { idToken: _dropped, ...tokens } = real.tokens;
  const full = await paddedTo({ ...real, tokens }, 3, stack.keys);
  const set = await testSealer(stack.keys).seal(full, 3600);
  assert.equal(set.length, 3);
  clock.advance(301_000); // past the access token: the gateway refreshes, then re-seals
  const r = await rawRequest(`${stack.url}/api/orders`, { headers: { ...browserHeaders, cookie: cookieHeaderOf(set) } });
  assert.equal(stack.refreshGrants(), 1, 'the refresh itself succeeded at the provider');
  assert.equal(r.status, 401, r.body.slice(0, 200));
  assert.equal(r.json().code, 'GH_SESSION_EXPIRED');
  assert.ok(r.setCookies.length > 0 && r.setCookies.every((c) => /Max-Age=0/.test(c)), 'only deletions: no cookie the browser could not send back');
  assert.ok(!r.body.includes(real.tokens.refreshToken ?? '-'));
});
