import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultResultsName, parseBenchArgs, USAGE, type BenchArgs } from './args.js';
import { buildRateModes, runRateMode } from './auth-rates.js';
import { startBenchAuth, type BenchAuth } from './fixtures/auth.js';
import { Fixtures } from './fixtures/fixtures.js';
import { autocannonGenerator } from './load/autocannon.js';
import type { LoadGenerator, LoadResult } from './load/load.js';
import { wrkGenerator } from './load/wrk.js';
import { buildModes, expectedStatus, selectModes, TARGET_KINDS, type ModeContext, type ModeSpec, type TargetKind } from './modes.js';
import { measureLoad } from './measure.js';
import { answersBetween, gatewayCounts, probeTarget } from './probe.js';
import { consoleMode, consoleRates, consoleSummary, markdownReport } from './report/format.js';
import { machineFacts, wrkVersion } from './report/machine.js';
import { roundOrder } from './report/order.js';
import { formatProfile, formatProfileDiff, latestProfiles, summarizeProfile } from './report/profile.js';
import type { ModeResult, RateResult, Sample, TargetResult } from './report/stats.js';
import { spawnChild, type ChildHandle } from './targets/spawn.js';
import { describeBaseline, gatewayEntry, profileDirFor, startTarget, type Placement, type StartedTarget } from './targets/start.js';

/** The repository root: the nearest folder above this file with gatehouse's package.json (works from dist/ and .build/<name>/). */
function projectRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'gatehouse') return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error('cannot find the gatehouse package.json above bench/');
    dir = parent;
  }
}

function findExecutable(candidates: readonly string[]): string | undefined {
  const pathDirs = (process.env.PATH ?? '').split(':').filter(Boolean);
  for (const c of candidates) {
    if (c.includes('/')) {
      if (existsSync(c)) return c;
    } else {
      const hit = pathDirs.map((d) => join(d, c)).find((p) => existsSync(p));
      if (hit) return hit;
    }
  }
  return undefined;
}

function placement(args: BenchArgs): { placement: Placement; layout: string } {
  const taskset = args.pin ? findExecutable(['taskset']) : undefined;
  if (!taskset || cpus().length < 2) {
    const why = !args.pin ? '--no-pin' : !taskset ? 'taskset not found' : 'fewer than two cores';
    return { placement: { taskset: undefined, serverCore: undefined, loadCore: undefined }, layout: `unpinned (${why}): the load generator competes with the server for CPU` };
  }
  return {
    placement: { taskset, serverCore: 1, loadCore: 0 },
    layout:
      'server under test on core 1 (taskset -c 1; the idle targets wait there too); the load generator (one thread) and the upstream share core 0',
  };
}

async function runMode(
  mode: ModeSpec,
  ctx: ModeContext,
  args: BenchArgs,
  env: { generator: LoadGenerator; placement: Placement; workDir: string },
): Promise<ModeResult> {
  const creds = await mode.credentials(ctx);
  const problems: string[] = [];
  const started: StartedTarget[] = [];
  const results = new Map<string, TargetResult>();
  for (const kind of TARGET_KINDS) {
    if (kind === 'floor' && mode.floorKeyFile === undefined) continue;
    if (kind === 'baseline' && args.baselineDir === undefined) continue;
    if (kind === 'express' || kind === 'fastify') {
      const peer = mode.peer(kind, ctx);
      if (typeof peer === 'string') {
        results.set(kind, { target: kind, unsupported: peer, samples: [] });
        continue;
      }
    }
    try {
      const target = await startTarget(kind, mode, ctx, {
        placement: env.placement,
        workDir: env.workDir,
        verbose: args.verbose,
        profileDir: args.profileDir,
        baselineDir: args.baselineDir,
      });
      const wrong = await probeTarget(target.child.port, mode.path, creds.header, creds.prefix + creds.first, expectedStatus(kind, mode));
      if (wrong) {
        results.set(kind, { target: kind, failed: `probe ${wrong}`, samples: [] });
        await target.child.stop();
        continue;
      }
      started.push(target);
      results.set(kind, { target: kind, samples: [] });
    } catch (err) {
      // The first two lines name the failure and its cause (the child's first stderr line).
      const reason = (err as Error).message.split('\n').filter(Boolean).slice(0, 2).join(' ');
      results.set(kind, { target: kind, failed: reason || 'failed to start', samples: [] });
      if (args.verbose) console.error(err);
    }
  }

  // Each target walks the credential list on from where its last run stopped,
  // so a list larger than the gateway's cache never repeats a recent value.
  const cursor = new Map<TargetKind, number>();
  const served: Partial<Record<TargetKind, number>> = {};
  const load = async (t: StartedTarget, durationS: number) => {
    const r = await env.generator.run({
      url: `http://127.0.0.1:${t.child.port}${mode.path}`,
      connections: args.connections,
      durationS,
      valuesFile: creds.valuesFile,
      header: creds.header,
      prefix: creds.prefix,
      core: env.placement.loadCore,
      startIndex: cursor.get(t.kind) ?? 0,
    });
    cursor.set(t.kind, r.nextIndex);
    served[t.kind] = (served[t.kind] ?? 0) + r.requests;
    return r;
  };
  const warmUp = async (t: StartedTarget) => {
    // Some modes measure a steady state (every token cached): warm up through the whole list first.
    const wanted = mode.warmupPasses * creds.count;
    let sent = 0;
    for (let runs = 0; runs === 0 || (sent < wanted && runs < 10); runs++) sent += (await load(t, args.warmupS)).requests;
  };

  try {
    const dead = new Set<string>();
    for (const t of started) {
      await warmUp(t).catch((err: unknown) => {
        dead.add(t.kind);
        results.set(t.kind, { target: t.kind, failed: `warm-up: ${(err as Error).message.split('\n')[0]}`, samples: [] });
      });
    }
    const gateway = started.find((t) => t.kind === 'gateway');
    const countsBefore = gateway?.adminUrl ? await gatewayCounts(gateway.adminUrl, mode.gatewayCache) : undefined;
    for (let round = 0; round < args.rounds; round++) {
      // Balanced across rounds: each target runs after each other one equally often (report/order.ts).
      const order = roundOrder(started.length, round).map((i) => started[i]!);
      for (const t of order) {
        if (dead.has(t.kind)) continue;
        let r: LoadResult;
        let sample: Sample;
        try {
          ({ sample, result: r } = await measureLoad(t.child, env.placement, round, () => load(t, args.durationS)));
        } catch (err) {
          // A target that crashes under load is reported, and the others still run.
          dead.add(t.kind);
          const reason = `round ${round + 1}: ${(err as Error).message.split('\n')[0]} (the process died or the load failed)`;
          const prev = results.get(t.kind)!;
          results.set(t.kind, { ...prev, failed: reason });
          problems.push(`${t.kind} ${reason}`);
          continue;
        }
        results.get(t.kind)!.samples.push(sample);
        const expect = expectedStatus(t.kind, mode);
        const wrongStatuses = expect < 400 ? r.errorStatuses : r.requests - r.errorStatuses;
        if (wrongStatuses > 0) problems.push(`${t.kind}, round ${round + 1}: ${wrongStatuses} of ${r.requests} responses were not ${expect}`);
        if (r.socketErrors > 0) problems.push(`${t.kind}, round ${round + 1}: ${r.socketErrors} socket errors or timeouts`);
        if (args.verbose) console.log(`  ${mode.id} round ${round + 1} ${t.kind}: ${Math.round(r.rps)} req/s`);
      }
    }
    const countsAfter = gateway?.adminUrl ? await gatewayCounts(gateway.adminUrl, mode.gatewayCache) : undefined;
    const cacheAfter = countsAfter?.cache;
    const gatewayCache = cacheAfter
      ? { hit: cacheAfter.hit - (countsBefore?.cache?.hit ?? 0), miss: cacheAfter.miss - (countsBefore?.cache?.miss ?? 0) }
      : undefined;
    const gatewayAnswers = countsBefore && countsAfter ? answersBetween(countsBefore.answers, countsAfter.answers) : undefined;
    if (gatewayAnswers) {
      // 499: wrk closes its connections with requests still in flight when a load's time is up.
      const other = Object.entries(gatewayAnswers.statuses).filter(([status]) => status !== String(mode.expectStatus) && status !== '499');
      if (other.length > 0) problems.push(`gateway answered ${other.map(([s, n]) => `${n.toLocaleString('en')} × ${s}`).join(', ')} besides ${mode.expectStatus} (its /metrics)`);
    }
    // Modes of never-seen tokens (those with a verify floor): a gateway that went round its list saw tokens again.
    if (mode.floorKeyFile !== undefined) {
      for (const kind of ['gateway', 'baseline'] as const) {
        const n = served[kind] ?? 0;
        if (n > creds.count) {
          problems.push(
            `${kind} was sent ${n.toLocaleString('en')} requests from a list of ${creds.count.toLocaleString('en')}: tokens came back, ` +
              `each ${creds.count.toLocaleString('en')} requests after its last use (the cache line says whether any hit; --fresh-tokens makes the list longer)`,
          );
        }
      }
    }
    return { mode, targets: TARGET_KINDS.flatMap((k) => results.get(k) ?? []), gatewayCache, gatewayAnswers, problems, served };
  } finally {
    await Promise.all(started.map((t) => t.child.stop()));
  }
}

/** The gateway's hottest functions per mode, and where it spends more per request than the bare proxy. */
function printProfiles(dir: string, results: readonly ModeResult[]): void {
  for (const r of results) {
    const [gatewayFile] = latestProfiles(profileDirFor(dir, r.mode.id, 'gateway'));
    const [bareFile] = latestProfiles(profileDirFor(dir, r.mode.id, 'bare'));
    if (!gatewayFile) continue;
    const gateway = summarizeProfile(gatewayFile);
    console.log(formatProfile(gateway, `gateway, mode ${r.mode.id}`));
    if (bareFile) {
      console.log(
        formatProfileDiff(gateway, r.served?.gateway ?? 0, summarizeProfile(bareFile), r.served?.bare ?? 0, `gateway vs bare proxy, mode ${r.mode.id}`),
      );
    }
  }
  console.log(`\nprofiles of every target: ${dir}/<mode>/<target>/*.cpuprofile (open in Chrome DevTools or speedscope)`);
}

async function main(): Promise<void> {
  const args = parseBenchArgs(process.argv.slice(2));
  if (args.help) {
    console.log(USAGE);
    return;
  }
  const startedAt = new Date();
  const loadAtStart = loadavg()[0]!;
  const root = projectRoot();
  const allModes = buildModes({ freshTokens: args.freshTokens, tokenCacheEntries: args.tokenCacheEntries });
  const rateModes = buildRateModes();
  // One --modes list names both kinds; an unknown name is refused against both.
  const picked = selectModes<{ id: string; group: string }>([...allModes, ...rateModes], args.modes);
  const modes = allModes.filter((m) => picked.includes(m));
  const rateSpecs = rateModes.filter((m) => picked.includes(m));
  const { placement: place, layout } = placement(args);
  const workDir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-'));
  const wrk = args.autocannon ? undefined : findExecutable(['/usr/bin/wrk', 'wrk']);
  const generator = wrk
    ? wrkGenerator({ wrk, taskset: place.taskset, workDir, threads: 1 })
    : autocannonGenerator({ taskset: place.taskset });
  const generatorNote = wrk
    ? `${wrkVersion(wrk)}, 1 thread, Lua script rotating the credential per request`
    : args.autocannon
      ? 'autocannon in a separate process (--autocannon)'
      : 'autocannon in a separate process (wrk not found: install the Debian package `wrk` for a lighter load generator)';
  const entry = gatewayEntry();
  // Checked before any fixture is signed: a wrong folder fails now, not after minutes.
  const baseline = args.baselineDir === undefined ? undefined : describeBaseline(args.baselineDir);

  console.log(`gatehouse bench: modes ${picked.map((m) => m.id).join(', ')}; ${args.rounds} round(s) × ${args.durationS} s, ${args.connections} connections`);
  console.log(`load: ${generatorNote}`);
  console.log(`layout: ${layout}`);
  console.log(`gateway: ${entry.note}`);
  if (baseline) console.log(`baseline: ${baseline}`);

  const fixtures = Fixtures.open({ fresh: args.freshFixtures });
  let upstream: ChildHandle | undefined;
  // The authorization service of the gateway modes that need one: beside the upstream, started on first use.
  let authBeside: Promise<BenchAuth> | undefined;
  const results: ModeResult[] = [];
  const rates: RateResult[] = [];
  const fixtureNotes: string[] = [];
  try {
    upstream = await spawnChild(
      {
        name: 'upstream',
        script: new URL('./targets/upstream.js', import.meta.url),
        settings: {},
        core: place.loadCore,
        ready: 'ipc',
        verbose: args.verbose,
      },
      { taskset: place.taskset },
    );
    const ctx: ModeContext = {
      fixtures,
      upstreamUrl: `http://127.0.0.1:${upstream.port}`,
      gatewayLogLevel: args.gatewayLogLevel,
      authService: () =>
        (authBeside ??= startBenchAuth({ workDir, core: place.loadCore, taskset: place.taskset, verbose: args.verbose })),
    };
    for (const mode of modes) {
      const t0 = performance.now();
      const creds = await mode.credentials(ctx);
      const signS = (performance.now() - t0) / 1000;
      if (signS > 1) {
        const note = mode.credentialsFrom
          ? `mode ${mode.id}: ${creds.count.toLocaleString('en')} tokens obtained from ${mode.credentialsFrom} in ${signS.toFixed(1)} s (start-up included)`
          : `mode ${mode.id}: ${creds.count.toLocaleString('en')} tokens signed in ${signS.toFixed(1)} s (cached in ${fixtures.dir} for later runs)`;
        console.log(note);
        fixtureNotes.push(note);
      }
      const result = await runMode(mode, ctx, args, { generator, placement: place, workDir });
      results.push(result);
      console.log(consoleMode(result));
    }
    await (await authBeside?.catch(() => undefined))?.stop();
    authBeside = undefined;
    for (const spec of rateSpecs) rates.push(await runRateMode(spec, args, { generator, placement: place, workDir }));
    if (rates.length > 0) console.log(consoleRates(rates));
  } finally {
    await (await authBeside?.catch(() => undefined))?.stop();
    await upstream?.stop();
    rmSync(workDir, { recursive: true, force: true });
  }
  if (results.length > 0) console.log(consoleSummary(results));

  if (args.profileDir) printProfiles(args.profileDir, results);

  const out = args.out ?? join(root, 'bench', 'results', defaultResultsName(args, { wrk: wrk !== undefined, pinned: place.serverCore !== undefined }));
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(
    out,
    markdownReport(
      results,
      {
        args,
        generator: generatorNote,
        layout,
        machine: machineFacts(root),
        startedAt: startedAt.toISOString(),
        elapsedS: (Date.now() - startedAt.getTime()) / 1000,
        fixtureNotes,
        loadAverage: [loadAtStart, loadavg()[0]!],
        baseline,
        command: ['node', relative(root, process.argv[1] ?? 'dist/bench/run.js'), ...process.argv.slice(2)].join(' '),
      },
      rates,
    ),
  );
  console.log(`\nwrote ${relative(process.cwd(), out) || out}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
