import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { signJwt } from '../fixtures/jwt-sign.js';
import { spawnChild, type ChildHandle } from './spawn.js';

// The bare proxy and its "verify floor" variant as the bench runs them: real
// child processes in front of the bench upstream, over loopback sockets.

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-bare-test-'));
const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const other = generateKeyPairSync('rsa', { modulusLength: 2048 });
const keyFile = join(dir, 'rs256.pem');
writeFileSync(keyFile, publicKey.export({ type: 'spki', format: 'pem' }));
const claims = { iss: 'https://issuer.test', aud: 'api', sub: 'alice', exp: Math.floor(Date.now() / 1000) + 600 };

let upstream: ChildHandle;
let bare: ChildHandle;
let floor: ChildHandle;

before(async () => {
  upstream = await spawnChild({ name: 'upstream', script: new URL('./upstream.js', import.meta.url), settings: {}, ready: 'ipc' }, { taskset: undefined });
  const proxy = (name: string, verifyKeyFile?: string) =>
    spawnChild(
      {
        name,
        script: new URL('./bare-proxy.js', import.meta.url),
        settings: { upstream: `http://127.0.0.1:${upstream.port}`, ...(verifyKeyFile ? { verifyKeyFile } : {}) },
        ready: 'ipc',
      },
      { taskset: undefined },
    );
  [bare, floor] = await Promise.all([proxy('bare proxy'), proxy('verify floor', keyFile)]);
});

after(async () => {
  await Promise.all([bare?.stop(), floor?.stop()]);
  await upstream?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function status(port: number, authorization?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ port, host: '127.0.0.1', path: '/api/orders/42', headers: authorization ? { authorization } : {} }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

test('the bare proxy forwards everything; the verify floor only requests whose RS256 signature holds', async () => {
  const good = signJwt('RS256', privateKey, claims);
  const forged = signJwt('RS256', other.privateKey, claims);
  for (const auth of [undefined, 'Bearer garbage', `Bearer ${forged}`, `Bearer ${good}`]) assert.equal(await status(bare.port, auth), 200);
  assert.equal(await status(floor.port, `Bearer ${good}`), 200);
  for (const auth of [undefined, 'Bearer garbage', `Bearer ${forged}`, `Bearer ${good.slice(0, -4)}`, `Basic ${good}`]) {
    assert.equal(await status(floor.port, auth), 401, auth ?? '(none)');
  }
  // Still serving after the refusals.
  assert.equal(await status(floor.port, `Bearer ${good}`), 200);
});
