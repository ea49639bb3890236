import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import * as oidc from 'openid-client';
import { discoverClient } from '../helpers/auth-service.js';
import { deletePrefix, randomPrefix, REDIS_URL } from '../helpers/sessions.js';
import { cookieMap, CookieJar, offsetClock, rawRequest, startSessionStack, type SessionStack } from '../helpers/session-stack.js';

interface Listed {
  readonly id: string;
  readonly createdAt: string;
  readonly lastSeenAt: string;
  readonly userAgent: string | undefined;
  readonly current: boolean;
}

const prefix = randomPrefix('e2e-manage');
after(() => deletePrefix(REDIS_URL, prefix));

async function list(stack: SessionStack, jar: CookieJar): Promise<Listed[]> {
  const res = await rawRequest(`${stack.url}/auth/sessions`, { headers: { cookie: jar.header() } });
  assert.equal(res.status, 200, res.body);
  return res.json<{ sessions: Listed[] }>().sessions;
}

const end = (stack: SessionStack, jar: CookieJar, id = '') =>
  rawRequest(`${stack.url}/auth/sessions${id ? `/${id}` : ''}`, { method: 'DELETE', headers: { cookie: jar.header(), origin: stack.url } });

const api = (stack: SessionStack, jar: CookieJar) => rawRequest(`${stack.url}/api/orders`, { headers: { cookie: jar.header() } });

const variants = [
  { mode: 'stateful', store: { kind: 'memory' } },
  { mode: 'stateless', store: { kind: 'memory' } },
  { mode: 'stateless', store: { kind: 'redis', url: REDIS_URL, prefix } },
] as const;

for (const { mode, store } of variants) {
  test(`${mode} (${store.kind}): two logins are listed, one current; ending the other by id kills its cookie; another user's id is 404; ending the current one clears its cookies`, async (t) => {
    const stack = await startSessionStack({ mode, store });
    t.after(() => stack.close());
    const { jar: phone } = await stack.login('/app/home', undefined, { userAgent: 'phone' });
    const { jar: laptop } = await stack.login('/app/home', undefined, { userAgent: 'laptop' });

    const both = await list(stack, laptop);
    assert.deepEqual(both.map((s) => [s.userAgent, s.current]).sort(), [['laptop', true], ['phone', false]]);
    for (const s of both) assert.ok(Date.parse(s.createdAt) <= Date.parse(s.lastSeenAt), 'created and last seen are times');
    const phoneId = both.find((s) => !s.current)?.id as string;
    const laptopId = both.find((s) => s.current)?.id as string;
    assert.deepEqual((await list(stack, phone)).map((s) => [s.id, s.current]).sort(), [[laptopId, false], [phoneId, true]].sort(), 'the same two, seen from the phone');

    const bob = await stack.addUser('bob');
    const { jar: bobJar } = await stack.login('/app/home', undefined, { user: bob });
    const bobsOwn = await list(stack, bobJar);
    assert.equal(bobsOwn.length, 1, 'another user sees only their own session');
    const foreign = await end(stack, laptop, bobsOwn[0]?.id);
    assert.equal(foreign.status, 404);
    assert.equal(foreign.json().code, 'GH_SESSION_NOT_FOUND');
    assert.equal((await api(stack, bobJar)).status, 200, "bob's session is untouched");

    const ended = await end(stack, laptop, phoneId);
    assert.equal(ended.status, 204, ended.body);
    const dead = await api(stack, phone);
    assert.equal(dead.status, 401, 'the ended session\'s cookie stops working at once');
    assert.equal(dead.json().code, 'GH_SESSION_EXPIRED');
    assert.deepEqual((await list(stack, laptop)).map((s) => [s.id, s.current]), [[laptopId, true]]);
    assert.equal((await api(stack, laptop)).status, 200, 'the current session lives on');

    const self = await end(stack, laptop, laptopId);
    assert.equal(self.status, 204);
    const names = [...cookieMap(laptop.header()).keys()];
    assert.ok(names.length > 0);
    for (const name of names) assert.ok(self.setCookies.some((c) => c.startsWith(`${name}=;`) && /Max-Age=0/.test(c)), `${name} cleared`);
    assert.equal((await api(stack, laptop)).status, 401);
  });

  test(`${mode} (${store.kind}): "end all other sessions" counts what it ended; they leave the list and their cookies stop working`, async (t) => {
    const stack = await startSessionStack({ mode, store });
    t.after(() => stack.close());
    const { jar: a } = await stack.login('/app/home', undefined, { userAgent: 'a' });
    const { jar: b } = await stack.login('/app/home', undefined, { userAgent: 'b' });
    const { jar: me } = await stack.login('/app/home', undefined, { userAgent: 'me' });
    const res = await end(stack, me);
    assert.equal(res.status, 200, res.body);
    assert.deepEqual(res.json(), { ended: 2 });
    for (const jar of [a, b]) assert.equal((await api(stack, jar)).status, 401);
    assert.deepEqual((await list(stack, me)).map((s) => [s.userAgent, s.current]), [['me', true]]);
    assert.equal((await api(stack, me)).status, 200);
  });

  test(`${mode} (${store.kind}): ending another session by id, or all the others, revokes their refresh tokens at the provider, as logout does`, async (t) => {
    const stack = await startSessionStack({ mode, store });
    t.after(() => stack.close());
    await stack.login('/app/home', undefined, { userAgent: 'phone' });
    await stack.login('/app/home', undefined, { userAgent: 'tablet' });
    await stack.login('/app/home', undefined, { userAgent: 'watch' });
    const { jar: laptop } = await stack.login('/app/home', undefined, { userAgent: 'laptop' });
    // The refresh token of each login, in login order, as the provider issued it.
    const issued = stack.relay.answers('authorization_code').map((a) => a.refresh_token as string);
    const [phoneRt, tabletRt, watchRt] = issued;
    assert.equal(issued.length, 4);
    const client = await discoverClient(stack.auth, { clientId: stack.clientId, clientSecret: stack.clientSecret });
    const refused = (rt: string | undefined) =>
      assert.rejects(oidc.refreshTokenGrant(client, rt as string), (err: unknown) => err instanceof oidc.ResponseBodyError && err.error === 'invalid_grant');

    const phoneId = (await list(stack, laptop)).find((s) => s.userAgent === 'phone')?.id as string;
    assert.equal((await end(stack, laptop, phoneId)).status, 204);
    await refused(phoneRt);
    assert.equal(stack.refusedRefreshGrants(), 1);

    const others = await end(stack, laptop);
    assert.deepEqual(others.json(), { ended: 2 });
    await refused(tabletRt);
    await refused(watchRt);
    assert.equal(stack.refusedRefreshGrants(), 3);
    assert.equal((await api(stack, laptop)).status, 200, 'the current session and its grant live on');
  });

  test(`${mode} (${store.kind}): sessions signed in through one provider session share its grant: ending the others, by id or all at once, revokes nothing, and the current one still refreshes`, async (t) => {
    const clock = offsetClock();
    const stack = await startSessionStack({ mode, store, now: clock.now });
    t.after(() => stack.close());
    // One browser, three tabs logging in at once: one session at the provider (the form only the first
    // time), each callback completed without the others' cookies, so three gateway sessions on one grant.
    const provider = new CookieJar();
    const { jar: tabA } = await stack.login('/app/home', undefined, { userAgent: 'tab-a', provider });
    const { jar: tabB } = await stack.login('/app/home', undefined, { userAgent: 'tab-b', provider });
    const { jar: tabC } = await stack.login('/app/home', undefined, { userAgent: 'tab-c', provider });
    const tabAId = (await list(stack, tabC)).find((s) => s.userAgent === 'tab-a')?.id as string;
    assert.equal((await end(stack, tabC, tabAId)).status, 204);
    assert.deepEqual((await end(stack, tabC)).json(), { ended: 1 });
    for (const jar of [tabA, tabB]) assert.equal((await api(stack, jar)).status, 401, 'the ended tabs are signed out');

    clock.advance(301_000); // past the access token's life: the next request refreshes
    const refreshed = await api(stack, tabC);
    assert.equal(refreshed.status, 200, refreshed.body);
    assert.equal(stack.refreshGrants(), 1);
    assert.equal(stack.refusedRefreshGrants(), 0, 'the grant the ended tabs shared with this one was not revoked');
  });
}
