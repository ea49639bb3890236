import { readFileSync } from 'node:fs';
import { announceReady, exitWhenParentSaysSo, readChildSettings } from './child.js';

// The authorization service in its own process, started through its public
// entry point `startAuthService(config)` with the config the parent wrote
// (bench/fixtures/auth.ts). Paths are resolved from this file, so it runs from
// dist/ and from .build/<name>/.

interface AuthModule {
  AuthServiceSchema: { parse(input: unknown): unknown };
  startAuthService(config: unknown): Promise<{ url: string; close(): Promise<void> }>;
}

async function main(): Promise<void> {
  const settings = readChildSettings();
  if (!settings.configFile) throw new Error('auth-service child needs a config file');
  const auth = (await import(new URL('../../src/auth-service/index.js', import.meta.url).href)) as AuthModule;
  const config = auth.AuthServiceSchema.parse(JSON.parse(readFileSync(settings.configFile, 'utf8')));
  // No logger: like every other bench target, nothing is written per request.
  const service = await auth.startAuthService(config);
  announceReady(Number(new URL(service.url).port));
  exitWhenParentSaysSo(() => Promise.race([service.close(), new Promise<void>((r) => setTimeout(r, 500))]));
}

main().catch((err: unknown) => {
  console.error('auth-service child failed:', err);
  process.exit(1);
});
