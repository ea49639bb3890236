import { parseArgs } from 'node:util';

export interface BenchArgs {
  readonly durationS: number;
  /** Load per round of the authorization-service rates (`as-*`). */
  readonly authDurationS: number;
  readonly warmupS: number;
  readonly rounds: number;
  readonly connections: number;
  readonly modes: string[] | undefined;
  readonly freshTokens: number;
  readonly tokenCacheEntries: number;
  readonly gatewayLogLevel: string;
  /** Write a V8 CPU profile of each gateway child into this folder. */
  readonly profileDir: string | undefined;
  /** A compiled build of another revision (see bench/build-baseline.sh), loaded beside this build's gateway in every gateway mode. */
  readonly baselineDir: string | undefined;
  readonly out: string | undefined;
  readonly pin: boolean;
  readonly freshFixtures: boolean;
  readonly verbose: boolean;
  /** Use autocannon even when wrk is installed. */
  readonly autocannon: boolean;
  readonly quick: boolean;
  readonly help: boolean;
}

export const USAGE = `npm run bench -- [options]     (or: node dist/bench/run.js [options])

  --modes LIST         modes by id or group, comma-separated (default: all): a,b,c,d,e,s,o,as
                       (d = d-es256,d-eddsa; e = e-repeat,e-distinct; o = o-opaque;
                       as = as-issue-jwt,as-issue-opaque,as-introspect: the authorization service alone)
  --duration SECONDS   load per target per round (default 3)        env GH_BENCH_DURATION
  --rounds N           rounds; each round loads every target once   env GH_BENCH_ROUNDS
                       (default 5; medians are reported)
  --as-duration SECONDS
                       load per round of the authorization-service rates (default 2)
  --connections N      concurrent connections (default 50)          env GH_BENCH_CONNECTIONS
  --warmup SECONDS     unmeasured load per target before round 1 (default 1; whole seconds)
  --quick              1 round × 2 s (a smoke run, not a result)
  --fresh-tokens N     size of the never-seen token lists of (c) and distinct forgeries (default 150000)
  --token-cache N      gateway security.tokenCache.maxEntries (default 10000, the schema default)
  --gateway-log LEVEL  gateway logging.level (default warn: no access log, like the peers)
  --profile DIR        run each gateway child with --cpu-prof into DIR, and print its hottest functions
  --baseline DIR       also load the gateway of another build in every gateway mode, in the same
                       rounds as this build's, and print the per-round difference in CPU µs per request
                       (build one with: bench/build-baseline.sh REV, which writes .build/base-REV)
  --out FILE           results file (default bench/results/latest.md for a full run of every mode;
                       ab-latest.md with --baseline; partial-latest.md for any other run)
  --no-pin             do not pin processes with taskset
  --fresh-fixtures     make new keys and tokens instead of reusing the cached ones
  --autocannon         load with autocannon (in its own process) even when wrk is installed
  --verbose            show the children's output
`;

function num(value: string | undefined, envName: string, fallback: number): number {
  const raw = value ?? process.env[envName];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${envName.replace('GH_BENCH_', '--').toLowerCase()} must be a positive number, got "${raw}"`);
  return n;
}

export function parseBenchArgs(argv: readonly string[]): BenchArgs {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      modes: { type: 'string' },
      duration: { type: 'string' },
      'as-duration': { type: 'string' },
      rounds: { type: 'string' },
      connections: { type: 'string' },
      warmup: { type: 'string' },
      quick: { type: 'boolean', default: false },
      'fresh-tokens': { type: 'string' },
      'token-cache': { type: 'string' },
      'gateway-log': { type: 'string', default: 'warn' },
      profile: { type: 'string' },
      baseline: { type: 'string' },
      out: { type: 'string' },
      'no-pin': { type: 'boolean', default: false },
      'fresh-fixtures': { type: 'boolean', default: false },
      verbose: { type: 'boolean', default: false },
      autocannon: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  const quick = values.quick === true;
  return {
    // wrk takes whole seconds.
    durationS: Math.max(1, Math.round(num(values.duration, 'GH_BENCH_DURATION', quick ? 2 : 3))),
    warmupS: Math.max(1, Math.round(num(values.warmup, 'GH_BENCH_WARMUP', 1))),
    authDurationS: Math.max(1, Math.round(num(values['as-duration'], 'GH_BENCH_AS_DURATION', quick ? 1 : 2))),
    rounds: Math.round(num(values.rounds, 'GH_BENCH_ROUNDS', quick ? 1 : 5)),
    connections: Math.round(num(values.connections, 'GH_BENCH_CONNECTIONS', 50)),
    modes: values.modes?.split(',').map((s) => s.trim()).filter(Boolean),
    freshTokens: Math.round(num(values['fresh-tokens'], 'GH_BENCH_FRESH_TOKENS', 150_000)),
    tokenCacheEntries: Math.round(num(values['token-cache'], 'GH_BENCH_TOKEN_CACHE', 10_000)),
    gatewayLogLevel: values['gateway-log'] ?? 'warn',
    profileDir: values.profile,
    baselineDir: values.baseline,
    out: values.out,
    pin: values['no-pin'] !== true,
    freshFixtures: values['fresh-fixtures'] === true,
    verbose: values.verbose === true,
    autocannon: values.autocannon === true,
    quick,
    help: values.help === true,
  };
}

/**
 * Where a run writes its results when `--out` is not given. Only a full run
 * (every mode, the default rounds, no profiler slowing the gateway) is the
 * build's result in `latest.md`, the file the README quotes: a smoke run or a
 * profiled one must not replace it.
 */
export function defaultResultsName(args: BenchArgs, setup: { wrk: boolean; pinned: boolean } = { wrk: true, pinned: true }): string {
  if (args.baselineDir !== undefined) return 'ab-latest.md';
  const full =
    // What the machine allowed, not only what was asked: no wrk means autocannon, no taskset no pinning.
    setup.wrk && setup.pinned &&
    args.modes === undefined && !args.quick && args.profileDir === undefined &&
    // As long or longer and as many rounds or more: the same measurement, only steadier.
    args.rounds >= 5 && args.durationS >= 3 && args.authDurationS >= 2 && args.warmupS >= 1 && args.freshTokens >= 150_000 &&
    // Anything else changes what is measured.
    args.connections === 50 && args.tokenCacheEntries === 10_000 && args.gatewayLogLevel === 'warn' && args.pin && !args.autocannon;
  return full ? 'latest.md' : 'partial-latest.md';
}
