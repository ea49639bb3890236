import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { chromium, type Browser } from 'playwright-core';
import { startSessionStack } from '../helpers/session-stack.js';

const CHROMIUM = process.env.GATEHOUSE_CHROMIUM ?? '/usr/bin/chromium';

async function launch(): Promise<Browser> {
  // Fails loudly when the browser is missing: this test never skips.
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing (apt-get install -y chromium)`);
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

for (const mode of ['stateful', 'stateless'] as const) {
  test(`browser (${mode}): login through the gateway, bearer upstream, no token visible to page JS, logout kills the cookie`, async (t) => {
    const stack = await startSessionStack({ mode });
    t.after(() => stack.close());
    const browser = await launch();
    t.after(() => browser.close());
    const context = await browser.newContext();
    const page = await context.newPage();

    // 1. A page behind the gateway sends the browser to the provider's login form.
    await page.goto(`${stack.url}/app/home`);
    assert.ok(page.url().startsWith(stack.auth.issuer), `at the provider: ${page.url()}`);
    await page.fill('input[name="username"]', stack.auth.user.username);
    await page.fill('input[name="password"]', stack.auth.user.password);
    await Promise.all([page.waitForURL(`${stack.url}/app/home`), page.click('button[type="submit"]')]);

    // 2. Back on the page; its upstream got a bearer token.
    assert.equal(JSON.parse((await page.textContent('#echo')) ?? '{}').bearer, true);

    // 3. The browser stored the session cookie as HttpOnly, Secure, SameSite=Lax, host-only.
    const cookies = (await context.cookies(stack.url)).filter((c) => c.name.startsWith('__Host-gh_'));
    assert.ok(cookies.length >= 1, 'session cookie stored (Secure cookies are accepted on http://127.0.0.1)');
    for (const c of cookies) {
      assert.equal(c.httpOnly, true, c.name);
      assert.equal(c.secure, true, c.name);
      assert.equal(c.sameSite, 'Lax', c.name);
      assert.equal(c.path, '/');
    }

    // 4. Page JavaScript sees no token anywhere, yet its API calls carry one upstream.
    // Evaluated in the page (a string, since this file is compiled without DOM types).
    const seen = (await page.evaluate(`(async () => ({
      cookie: document.cookie,
      local: JSON.stringify({ ...localStorage }),
      session: JSON.stringify({ ...sessionStorage }),
      api: await (await fetch('/api/whoami')).json(),
    }))()`)) as { cookie: string; local: string; session: string; api: { bearer: boolean; cookieNames: string[] } };
    assert.equal(seen.cookie, '', 'document.cookie is empty');
    assert.equal(seen.local, '{}');
    assert.equal(seen.session, '{}');
    assert.equal(seen.api.bearer, true, 'the upstream got a bearer token');
    // (The provider's own cookies share the host 127.0.0.1 in this test; only ours must never go upstream.)
    assert.deepEqual(seen.api.cookieNames.filter((n) => n.startsWith('__Host-gh_')), [], 'no gateway cookie upstream');

    // 5. Logout from the page (a same-origin POST passes the CSRF check).
    const out = await page.evaluate(async () => (await fetch('/auth/logout', { method: 'POST' })).status);
    assert.equal(out, 200);
    assert.equal((await context.cookies(stack.url)).filter((c) => c.name.startsWith('__Host-gh_')).length, 0, 'cookies cleared');
    const afterLogout = await page.evaluate(async () => (await fetch('/api/whoami')).status);
    assert.equal(afterLogout, 401);

    // 6. The old cookie, put back by hand, no longer works.
    await context.addCookies(cookies);
    const replayed = (await page.evaluate(`(async () => {
      const r = await fetch('/api/whoami');
      return { status: r.status, body: await r.json() };
    })()`)) as { status: number; body: { code: string } };
    assert.equal(replayed.status, 401);
    assert.equal(replayed.body.code, 'GH_SESSION_EXPIRED');

    // 7. A navigation now goes through login again; the provider still knows the user
    //    (single sign-on there), so the browser comes back with a new, different session.
    const visited: string[] = [];
    page.on('request', (r) => visited.push(r.url()));
    await page.goto(`${stack.url}/app/again`);
    assert.ok(visited.some((u) => u.startsWith(`${stack.url}/auth/login`)), 'sent to /auth/login');
    assert.ok(visited.some((u) => u.startsWith(stack.auth.issuer)), 'through the provider');
    assert.equal(page.url(), `${stack.url}/app/again`);
    const fresh = (await context.cookies(stack.url)).filter((c) => c.name.startsWith('__Host-gh_'));
    assert.ok(fresh.length >= 1);
    assert.notDeepEqual(fresh.map((c) => c.value), cookies.map((c) => c.value), 'a fresh session');
  });
}
