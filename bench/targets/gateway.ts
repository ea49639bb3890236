import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { announceReady, exitWhenParentSaysSo, readChildSettings } from './child.js';

// The gateway under test, in its own process, started through its public entry
// point `startGateway(config)` with a config loaded the way the CLI loads it.
// Paths are resolved from this file, so it runs from dist/ and from .build/<name>/.

interface GatewayModule {
  startGateway(config: unknown, opts?: { sessionStore?: unknown }): Promise<unknown>;
}
interface SessionFixturesModule {
  loadSeededStore(seed: unknown): Promise<unknown>;
}
interface LoadModule {
  loadConfigFile(file: string): Promise<unknown>;
}

/** The compiled gateway module beside this bench build, or undefined when it has not been written yet. */
export function gatewayModuleUrl(): URL | undefined {
  const url = new URL('../../src/gateway.js', import.meta.url);
  return existsSync(fileURLToPath(url)) ? url : undefined;
}

/** The compiled CLI beside this bench build (`gatehouse start --config FILE`), if present. */
export function cliUrl(): URL | undefined {
  const url = new URL('../../src/cli/main.js', import.meta.url);
  return existsSync(fileURLToPath(url)) ? url : undefined;
}

async function main(): Promise<void> {
  const settings = readChildSettings();
  const moduleUrl = gatewayModuleUrl();
  if (!moduleUrl || !settings.configFile) throw new Error('gateway child needs src/gateway.js and a config file');
  const load = (await import(new URL('../../src/config/load.js', import.meta.url).href)) as LoadModule;
  const gateway = (await import(moduleUrl.href)) as GatewayModule;
  const config = await load.loadConfigFile(settings.configFile);
  // Session modes with the memory store: the sessions the parent made, loaded before the gateway starts.
  let sessionStore: unknown;
  if (settings.sessionSeedFile) {
    const fixtures = (await import(new URL('../fixtures/sessions.js', import.meta.url).href)) as SessionFixturesModule;
    sessionStore = await fixtures.loadSeededStore(JSON.parse(readFileSync(settings.sessionSeedFile, 'utf8')));
  }
  const handle = (await gateway.startGateway(config, sessionStore ? { sessionStore } : {})) as
    | { close?: () => Promise<void>; stop?: () => Promise<void>; ready?: Promise<void> }
    | undefined;
  await handle?.ready;
  announceReady(settings.port ?? 0);
  exitWhenParentSaysSo(async () => {
    // Exit promptly: the bench only needs the process gone (and its profile written).
    await Promise.race([handle?.close?.() ?? handle?.stop?.(), new Promise((r) => setTimeout(r, 500))]);
  });
}

// Imported by the parent only for the path helpers above; run when started as a child.
if (process.env.GH_BENCH_CHILD) {
  main().catch((err: unknown) => {
    console.error('gateway child failed:', err);
    process.exit(1);
  });
}
