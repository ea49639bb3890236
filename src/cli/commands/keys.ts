import type { Command } from 'commander';
import { describeKeys, openKeyRepository, rotateStoredKeys } from '../../auth-service/index.js';
import { longestAccessTokenTtl } from '../../auth-service/config-schema.js';
import { loadAuthSection } from './auth-config.js';

/**
 * `gatehouse keys rotate|list --config FILE`. Rotation writes the stored keys; a
 * running service picks them up within `signing.reloadInterval` (or on SIGHUP).
 */
export function registerKeysCommand(program: Command): void {
  const keys = program.command('keys').description('manage the authorization service signing keys (auth.signing.keysPath, or Redis with the redis store)');
  keys
    .command('rotate')
    .description('publish a new signing key now; it signs after signing.rotationDelay; the old key leaves after the longest access-token lifetime')
    .requiredOption('-c, --config <file>', 'YAML configuration file with an auth section')
    .action(async (opts: { config: string }) => {
      const loaded = await loadAuthSection(opts.config);
      if (!loaded) return;
      const { auth } = loaded;
      const repo = await openKeyRepository(auth);
      const result = await rotateStoredKeys(repo, {
        alg: auth.signing.alg,
        rotationDelaySeconds: auth.signing.rotationDelay,
        retireAfterSeconds: longestAccessTokenTtl(auth),
        now: Math.floor(Date.now() / 1000),
      }).finally(() => repo.close());
      console.log(`new key ${result.kid} (${result.alg}) published; signs from ${new Date(result.activateAt * 1000).toISOString()}`);
      for (const r of result.retiring) console.log(`key ${r.kid} leaves the JWKS at ${new Date(r.retireAt * 1000).toISOString()}`);
    });
  keys
    .command('list')
    .description('list the signing keys and their state')
    .requiredOption('-c, --config <file>', 'YAML configuration file with an auth section')
    .action(async (opts: { config: string }) => {
      const loaded = await loadAuthSection(opts.config);
      if (!loaded) return;
      const repo = await openKeyRepository(loaded.auth);
      const file = await repo.read().finally(() => repo.close());
      if (!file) {
        console.log('no keys yet: the service creates its first key when it starts');
        return;
      }
      const iso = (t?: number) => (t === undefined ? '-' : new Date(t * 1000).toISOString());
      for (const k of describeKeys(file, Math.floor(Date.now() / 1000))) {
        console.log(`${k.kid}\t${k.alg}\t${k.state}\tsigns from ${iso(k.activateAt)}\tretires ${iso(k.retireAt)}`);
      }
    });
}
