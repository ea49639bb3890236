import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as oidc from 'openid-client';
import { CookieJar, discoverClient, obtainTokensWithLogin, startTestAuthService } from '../../test/helpers/auth-service.js';
import { offsetClock } from '../../test/helpers/clock.js';

test('a new sign-in extends the grant it reuses: its refresh token outlives the grant\'s first expiry', async (t) => {
  const clock = offsetClock();
  const auth = await startTestAuthService({ now: clock.now, overrides: { ttl: { refreshTokenIdle: 600, refreshTokenAbsolute: 1000, grant: 1000 } } });
  t.after(() => auth.close());
  const config = await discoverClient(auth, auth.clients.opaqueWeb);
  const jar = new CookieJar();
  await obtainTokensWithLogin(auth, auth.clients.opaqueWeb, { scope: 'openid offline_access api:read', jar });
  clock.advance(900_000);
  // The browser session is still signed in: the same grant is used again.
  const second = await obtainTokensWithLogin(auth, auth.clients.opaqueWeb, { scope: 'openid offline_access api:read', jar });
  // 1100 s: the grant as first issued ended at 1000 s; the second refresh token lives to 900 + 600 s.
  clock.advance(200_000);
  const refreshed = await oidc.refreshTokenGrant(config, second.refresh_token as string);
  assert.ok(refreshed.access_token);
  // And no further than that: refresh tokens still end with their own lifetime.
  clock.advance(601_000);
  await assert.rejects(oidc.refreshTokenGrant(config, refreshed.refresh_token as string), (err: oidc.ResponseBodyError) => err.error === 'invalid_grant');
});
