import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { ConfigSchema } from '../config/schema.js';
import { SessionsSchema } from './config-schema.js';

const key = () => ({ id: 'k1', secret: randomBytes(32).toString('base64url') });
const base = {
  publicUrl: 'https://app.example.com',
  provider: { issuer: 'https://idp.example.com', clientId: 'gw', clientSecret: 's3cret' },
  keys: [key()],
};

test('defaults: stateful, memory store, 30 min idle, 12 h absolute, Origin check without double submit', () => {
  const s = SessionsSchema.parse(base);
  assert.equal(s.mode, 'stateful');
  assert.deepEqual(s.store, { kind: 'memory', maxEntries: 100000 });
  assert.equal(s.idleTimeout, 1800);
  assert.equal(s.absoluteTimeout, 43200);
  assert.equal(s.refreshSkew, 30);
  assert.deepEqual(s.csrf, { allowedOrigins: [], doubleSubmit: false });
  assert.equal(s.provider.scopes, 'openid offline_access');
  assert.equal(SessionsSchema.parse({ ...base, idleTimeout: '15m', store: { kind: 'redis', url: 'redis://127.0.0.1:6379' } }).idleTimeout, 900);
});

test('bad sessions settings are reported with their path', () => {
  const issues = (input: unknown) => {
    const r = SessionsSchema.safeParse(input);
    assert.equal(r.success, false);
    return r.error?.issues.map((i) => i.path.join('.')) ?? [];
  };
  assert.ok(issues({ ...base, keys: [] }).includes('keys'));
  assert.ok(issues({ ...base, keys: [{ id: 'k1', secret: randomBytes(16).toString('base64url') }] }).includes('keys.0.secret'));
  assert.ok(issues({ ...base, keys: [{ id: 'bad id', secret: key().secret }] }).includes('keys.0.id'));
  assert.ok(issues({ ...base, keys: [key(), key()] }).includes('keys.1.id'));
  assert.ok(issues({ ...base, idleTimeout: '2h', absoluteTimeout: '1h' }).includes('absoluteTimeout'));
  assert.ok(issues({ ...base, mode: 'cookie' }).includes('mode'));
  assert.ok(issues({ ...base, store: { kind: 'redis', url: 'http://x' } }).includes('store.url'));
  assert.ok(issues({ ...base, provider: { ...base.provider, timeoutMs: 20000 } }).includes('refreshLock.ttlMs'));
  assert.ok(issues({ ...base, surprise: 1 }).length > 0, 'unknown keys are errors');
  // The client secret and the codes travel to the issuer: https, or plain http on loopback only.
  assert.ok(issues({ ...base, provider: { ...base.provider, issuer: 'http://idp.example.com' } }).includes('provider.issuer'));
  assert.ok(issues({ ...base, provider: { ...base.provider, issuer: 'https://user:pw@idp.example.com' } }).includes('provider.issuer'));
  assert.equal(SessionsSchema.safeParse({ ...base, provider: { ...base.provider, issuer: 'http://127.0.0.1:3000' } }).success, true);
});

test('a route with auth: session needs the sessions section; login defaults to auto', () => {
  const route = { path: '/app', upstream: 'http://127.0.0.1:9', auth: 'session' };
  const bad = ConfigSchema.safeParse({ routes: [route] });
  assert.equal(bad.success, false);
  assert.ok(bad.error?.issues.some((i) => i.path.join('.') === 'routes.0.auth'));
  const good = ConfigSchema.parse({ routes: [route], sessions: base });
  assert.equal(good.routes[0]?.login, 'auto');
  assert.equal(good.sessions?.mode, 'stateful');
});

test('with sessions configured, a route at /auth or below is an error (the session endpoints answer there); /authors is not', () => {
  const route = (path: string) => ({ path, upstream: 'http://127.0.0.1:9', auth: 'none' });
  for (const path of ['/auth', '/auth/login', '/auth/api', '/AUTH', '/Auth/api']) {
    const r = ConfigSchema.safeParse({ routes: [route('/app'), route(path)], sessions: base });
    assert.equal(r.success, false, path);
    const issue = r.error?.issues.find((i) => i.path.join('.') === 'routes.1.path');
    assert.match(issue?.message ?? '', /session endpoints/, path);
  }
  assert.equal(ConfigSchema.safeParse({ routes: [route('/authors')], sessions: base }).success, true);
  // Without sessions the gateway serves nothing at /auth itself, so the path is free.
  assert.equal(ConfigSchema.safeParse({ routes: [route('/auth/api')] }).success, true);
});

test('a memory store smaller than 1,000 entries is refused: one account could fill it (100 sessions or logout markers per user)', () => {
  const ok = SessionsSchema.parse({ ...base, store: { kind: 'memory', maxEntries: 1000 } });
  assert.deepEqual(ok.store, { kind: 'memory', maxEntries: 1000 });
  assert.throws(() => SessionsSchema.parse({ ...base, store: { kind: 'memory', maxEntries: 999 } }));
});

test('touchInterval above half of idleTimeout is refused at sessions.touchInterval: last-seen moves only every touchInterval, so sessions in use would idle out', () => {
  const issue = (input: unknown) => SessionsSchema.safeParse(input).error?.issues.find((i) => i.path.join('.') === 'touchInterval');
  // The default touchInterval (60 s) against a 60 s idle timeout: accepted before, every session then ended while used.
  assert.match(issue({ ...base, idleTimeout: '60s' })?.message ?? '', /at most half of idleTimeout \(touchInterval 60 s, idleTimeout 60 s\)/);
  assert.ok(issue({ ...base, idleTimeout: '10m', touchInterval: '6m' }));
  assert.equal(SessionsSchema.safeParse({ ...base, idleTimeout: '2m' }).success, true, 'exactly half is enough');
  assert.equal(SessionsSchema.safeParse({ ...base, idleTimeout: '1h', touchInterval: 0 }).success, true);
  // Within the whole configuration the path names the section, as `gatehouse config check` prints it.
  const route = { path: '/app', upstream: 'http://127.0.0.1:9', auth: 'session' };
  const r = ConfigSchema.safeParse({ routes: [route], sessions: { ...base, idleTimeout: '90s' } });
  assert.ok(r.error?.issues.some((i) => i.path.join('.') === 'sessions.touchInterval'));
});
