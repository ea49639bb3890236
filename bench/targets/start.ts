import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { stringify } from 'yaml';
import type { ModeContext, ModeSpec, TargetKind } from '../modes.js';
import { cliUrl, gatewayModuleUrl } from './gateway.js';
import { spawnChild, type ChildHandle } from './spawn.js';

/** How processes are placed on cores (undefined core: unpinned). */
export interface Placement {
  readonly taskset: string | undefined;
  readonly serverCore: number | undefined;
  readonly loadCore: number | undefined;
}

export interface StartedTarget {
  readonly kind: TargetKind;
  readonly child: ChildHandle;
  /** Admin base URL (gateway only), for its /metrics. */
  readonly adminUrl?: string;
}

export interface TargetStartOptions {
  readonly placement: Placement;
  readonly workDir: string;
  readonly verbose: boolean;
  readonly profileDir: string | undefined;
  /** The other build's folder, for the `baseline` target. */
  readonly baselineDir?: string;
}

/** A free loopback port: the gateway takes its ports from its config file, so they are picked here. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Where `--profile DIR` puts the V8 CPU profile of one target in one mode. */
export function profileDirFor(root: string, modeId: string, kind: TargetKind): string {
  return join(root, modeId, kind);
}

/** Which way the gateway can be started from this build, or why it cannot. */
export function gatewayEntry(): { kind: 'module' | 'cli'; note: string } | { kind: 'missing'; note: string } {
  if (gatewayModuleUrl()) return { kind: 'module', note: 'startGateway(config) from src/gateway.ts, in a child process' };
  if (cliUrl()) return { kind: 'cli', note: '`gatehouse start --config FILE` (src/cli/main.ts)' };
  return { kind: 'missing', note: 'neither src/gateway.ts nor src/cli/main.ts is built yet' };
}

/**
 * The gateway child script of another build (`--baseline DIR`): it loads that
 * build's gateway, so both builds run the same config through their own code.
 * The folder must sit inside this repository, where its imports find node_modules.
 */
export function baselineGatewayScript(dir: string): URL {
  const script = resolve(dir, 'bench/targets/gateway.js');
  if (!existsSync(script) || !existsSync(resolve(dir, 'src/gateway.js'))) {
    throw new Error(`--baseline ${dir}: no compiled gateway there (bench/targets/gateway.js and src/gateway.js); build one with bench/build-baseline.sh REV`);
  }
  return pathToFileURL(script);
}

/** `DIR (revision …)` for the report, from the REVISION file bench/build-baseline.sh writes; throws when DIR holds no gateway. */
export function describeBaseline(dir: string): string {
  baselineGatewayScript(dir);
  const file = resolve(dir, 'REVISION');
  const revision = existsSync(file) ? readFileSync(file, 'utf8').trim() : 'revision unknown';
  return `${dir} (${revision})`;
}

/** Starts one target for a mode; throws with the child's stderr when it cannot start. */
export async function startTarget(kind: TargetKind, mode: ModeSpec, ctx: ModeContext, opts: TargetStartOptions): Promise<StartedTarget> {
  const profileArgs = opts.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDirFor(opts.profileDir, mode.id, kind)}`] : [];
  const common = { core: opts.placement.serverCore, verbose: opts.verbose, nodeArgs: profileArgs };
  const pin = { taskset: opts.placement.taskset };
  if (kind === 'bare' || kind === 'floor') {
    const verifyKeyFile = kind === 'floor' ? mode.floorKeyFile?.(ctx) : undefined;
    if (kind === 'floor' && verifyKeyFile === undefined) throw new Error(`mode ${mode.id} has no verify floor`);
    const child = await spawnChild(
      {
        ...common,
        name: kind === 'bare' ? 'bare proxy' : 'verify floor',
        script: new URL('./bare-proxy.js', import.meta.url),
        settings: { upstream: ctx.upstreamUrl, ...(verifyKeyFile ? { verifyKeyFile } : {}) },
        ready: 'ipc',
      },
      pin,
    );
    return { kind, child };
  }
  if (kind === 'express' || kind === 'fastify') {
    const auth = mode.peer(kind, ctx);
    if (typeof auth === 'string') throw new Error(auth);
    const child = await spawnChild(
      { ...common, name: kind, script: new URL(`./${kind}-peer.js`, import.meta.url), settings: { upstream: ctx.upstreamUrl, auth }, ready: 'ipc' },
      pin,
    );
    return { kind, child };
  }
  const entry = gatewayEntry();
  if (entry.kind === 'missing') throw new Error(entry.note);
  const launch: GatewayLaunch =
    kind === 'baseline'
      ? { kind, name: 'gateway (baseline)', module: baselineGatewayScript(opts.baselineDir ?? '') }
      : { kind: 'gateway', name: 'gateway', module: entry.kind === 'module' ? new URL('./gateway.js', import.meta.url) : undefined };
  // A port found free can be taken before the child binds it (loopback clients draw their
  // source ports from the same range): pick again rather than lose the mode.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startGateway(launch, mode, ctx, opts, common, pin);
    } catch (err) {
      if (attempt === 3 || !String((err as Error).message).includes('EADDRINUSE')) throw err;
    }
  }
}

/** Which gateway to start: this build's (through its child script, or its CLI when that is all there is) or the baseline's. */
interface GatewayLaunch {
  readonly kind: 'gateway' | 'baseline';
  readonly name: string;
  /** The gateway child script; undefined: this build's CLI. */
  readonly module: URL | undefined;
}

async function startGateway(
  launch: GatewayLaunch,
  mode: ModeSpec,
  ctx: ModeContext,
  opts: TargetStartOptions,
  common: { core: number | undefined; verbose: boolean; nodeArgs: string[] },
  pin: { taskset: string | undefined },
): Promise<StartedTarget> {
  const kind: TargetKind = launch.kind;
  const [port, adminPort] = [await freePort(), await freePort()];
  const configFile = join(opts.workDir, `${kind}-${mode.id}.yaml`);
  writeFileSync(configFile, stringify(await mode.gatewayConfig(ctx, { port, adminPort })));
  const sessionSeedFile = await mode.gatewaySessionSeed?.(ctx);
  const adminUrl = `http://127.0.0.1:${adminPort}`;
  const child =
    launch.module !== undefined
      ? await spawnChild(
          { ...common, name: launch.name, script: launch.module, settings: { configFile, port, ...(sessionSeedFile ? { sessionSeedFile } : {}) }, ready: 'ipc' },
          pin,
        )
      : await spawnChild(
          {
            ...common,
            name: 'gateway (cli)',
            script: cliUrl()!,
            args: ['start', '--config', configFile],
            settings: {},
            ready: { url: `${adminUrl}/readyz`, port },
          },
          pin,
        );
  return { kind, child, adminUrl };
}
