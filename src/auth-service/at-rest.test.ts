import assert from 'node:assert/strict';
import { DatabaseSync } from 'node:sqlite';
import { test } from 'node:test';
import { Redis } from 'ioredis';
import { obtainTokensWithLogin, postAsClient, startTestAuthService, type TestAuthService } from '../../test/helpers/auth-service.js';

/** What a reader of the store sees as the id of each stored token, by model. */
async function storedIds(auth: TestAuthService): Promise<Map<string, string>> {
  const ids = new Map<string, string>();
  const store = auth.config.store;
  if (store.kind === 'sqlite') {
    const db = new DatabaseSync(store.path, { readOnly: true });
    try {
      const rows = db.prepare("SELECT model, id FROM oidc_models WHERE model IN ('AccessToken', 'RefreshToken')").all() as { model: string; id: string }[];
      for (const r of rows) ids.set(r.model, r.id);
    } finally {
      db.close();
    }
  } else {
    const redis = new Redis(store.url);
    try {
      for (const model of ['AccessToken', 'RefreshToken']) {
        const [key] = await redis.keys(`${store.keyPrefix}${model}:sha256:*`);
        if (key) ids.set(model, key.slice(`${store.keyPrefix}${model}:`.length));
      }
    } finally {
      redis.disconnect();
    }
  }
  return ids;
}

// Whoever reads the store (a backup, a replica) sees only digests; a digest presented as a token must get nowhere.
for (const store of ['sqlite', 'redis'] as const) {
  test(`${store}: the stored id of a token is not a token: introspection says inactive, refresh says invalid_grant`, async (t) => {
    const auth = await startTestAuthService({ store });
    t.after(() => auth.close());
    const tokens = await obtainTokensWithLogin(auth, auth.clients.opaqueWeb, { scope: 'openid offline_access api:read' });
    const ids = await storedIds(auth);
    const at = ids.get('AccessToken');
    const rt = ids.get('RefreshToken');
    assert.match(String(at), /^sha256:/);
    assert.match(String(rt), /^sha256:/);

    const post = (path: string, client: { clientId: string; clientSecret: string }, body: Record<string, string>) => postAsClient(auth.issuer, path, client, body);

    assert.equal((await post('/token/introspection', auth.clients.gateway, { token: at as string })).body.active, false, 'access token digest');
    assert.equal((await post('/token/introspection', auth.clients.opaqueWeb, { token: rt as string })).body.active, false, 'refresh token digest');
    const refreshed = await post('/token', auth.clients.opaqueWeb, { grant_type: 'refresh_token', refresh_token: rt as string });
    assert.equal(refreshed.status, 400);
    assert.equal(refreshed.body.error, 'invalid_grant');
    // The real tokens are untouched by the attempts.
    assert.equal((await post('/token/introspection', auth.clients.gateway, { token: tokens.access_token })).body.active, true);
    assert.equal((await post('/token', auth.clients.opaqueWeb, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token as string })).status, 200);
  });
}
