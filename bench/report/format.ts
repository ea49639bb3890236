import type { BenchArgs } from '../args.js';
import { TARGET_KINDS, type TargetKind } from '../modes.js';
import { AUTH_RATE_MAX_CONNECTIONS } from '../auth-rates.js';
import type { MachineFacts } from './machine.js';
import {
  bareHeadroom, checks, median, medians, noisyTargets, ratioOfMedians, roundCpuDiffs, roundRatios, verdict, type Check, type ModeResult, type RateResult, type Sample,
} from './stats.js';

/** How the run was set up, for both the console and the results file. */
export interface RunFacts {
  readonly args: BenchArgs;
  readonly generator: string;
  readonly layout: string;
  readonly machine: MachineFacts;
  readonly startedAt: string;
  readonly elapsedS: number;
  readonly fixtureNotes: string[];
  /** 1-minute load average when the run started and ended (other work on a shared machine skews results). */
  readonly loadAverage: readonly [number, number];
  /** The command as run. */
  readonly command: string;
  /** `--baseline`: the other build's folder and revision. */
  readonly baseline?: string;
}

const TARGET_LABEL: Record<TargetKind, string> = {
  bare: 'bare proxy (node:http + undici)',
  floor: 'verify floor (bare proxy + one RS256 check)',
  gateway: 'gatehouse',
  baseline: 'gatehouse, baseline build (--baseline)',
  express: 'express + express-jwt + http-proxy-middleware',
  fastify: 'fastify + @fastify/jwt + @fastify/reply-from',
};

const fmt = (v: number | undefined, digits: number) => (v === undefined || Number.isNaN(v) ? '–' : v.toFixed(digits));
const percent = (v: number | undefined) => (v === undefined || Number.isNaN(v) ? '–' : `${Math.round(v * 100)}%`);
const int = (v: number | undefined) => (v === undefined || Number.isNaN(v) ? '–' : Math.round(v).toLocaleString('en'));

/** Rows of one mode's table: a header row, then one row per target. */
function modeRows(result: ModeResult): string[][] {
  const rows = [['target', 'req/s', 'CPU µs/req', 'p50 ms', 'p99 ms', '× bare', '× bare per round', 'server core used', 'other load on server core', 'load core busy']];
  for (const kind of TARGET_KINDS) {
    const t = result.targets.find((x) => x.target === kind);
    if (!t) continue;
    const m = medians(t.samples);
    if (!m) {
      rows.push([TARGET_LABEL[kind], t.unsupported ? 'n/a' : 'failed', '', '', '', '', '', '', '', '']);
      continue;
    }
    const perRound = kind === 'bare' ? '' : roundRatios(result, kind, 'bare').map((r) => r.toFixed(2)).join(' / ');
    rows.push([
      TARGET_LABEL[kind],
      int(m.rps),
      int(m.cpuUsPerReq),
      fmt(m.p50Ms, 2),
      fmt(m.p99Ms, 2),
      kind === 'bare' ? '1.00' : fmt(ratioOfMedians(result, kind, 'bare'), 2),
      perRound,
      percent(m.serverCoreShare),
      m.foreignCpuShare === undefined ? '–' : `${Math.round(m.foreignCpuShare * 100)}%`,
      m.loadCoreBusyShare === undefined ? '–' : `${Math.round(m.loadCoreBusyShare * 100)}%`,
    ]);
  }
  return rows;
}

function checkLines(result: ModeResult): string[] {
  return checks(result).map(
    (c) =>
      `${verdict(c)}  ${c.label}: ${ratioText(c)}× (by CPU per request: ${fmt(c.cpuValue, 2)}×; ${roundsLine(c)})` +
      (c.floorValue === undefined ? '' : `; the verify floor reaches ${fmt(c.floorValue, 2)}×, the most any gateway that checks every signature could`) +
      (c.void === undefined ? '' : `; void: ${c.void}`),
  );
}

/**
 * The judged ratio to two places, or, where two would read as meeting a line it
 * misses, three rounded down (0.8996 against 0.90 reads 0.899, never 0.900).
 */
export function ratioText(c: Check): string {
  const two = fmt(c.value, 2);
  if (c.value === undefined || c.value >= c.min || Number(two) < c.min) return two;
  return (Math.floor(c.value * 1000) / 1000).toFixed(3);
}

function roundsLine(c: Check): string {
  return c.roundsPaired === 0 ? 'no paired rounds' : `met in ${c.roundsMet} of ${c.roundsPaired} rounds`;
}

/** A warning when the bare proxy did not use its whole core: its req/s is then not the ceiling the ratios assume. */
export function headroomLine(result: ModeResult): string | undefined {
  const share = bareHeadroom(result);
  if (share === undefined) return undefined;
  return `the bare proxy used ${percent(share)} of its core: the load side (wrk and the upstream on the other core) held it back, ` +
    'so its req/s understates the ceiling and every req/s ratio in this mode flatters the other targets; the ratio by CPU per request is the fairer figure here';
}

/**
 * This build against the baseline build, when one was loaded: the per-round
 * difference in CPU µs per request (the figure to trust on a noisy machine),
 * how many rounds were cheaper, and the ratio of median req/s.
 */
export function baselineLine(result: ModeResult): string | undefined {
  const diffs = roundCpuDiffs(result, 'gateway', 'baseline');
  if (diffs.length === 0) return undefined;
  const signed = (v: number) => `${v > 0 ? '+' : v < 0 ? '−' : '±'}${Math.abs(v).toFixed(1)}`;
  const cheaper = diffs.filter((d) => d < 0).length;
  return `this build vs the baseline build, CPU µs per request by round: ${diffs.map(signed).join(' / ')} ` +
    `(median ${signed(median(diffs))}; cheaper in ${cheaper} of ${diffs.length} rounds); ` +
    `req/s ratio of medians ${fmt(ratioOfMedians(result, 'gateway', 'baseline'), 2)}×`;
}

function targetNotes(result: ModeResult): string[] {
  return result.targets.flatMap((t) =>
    t.unsupported ? [`${TARGET_LABEL[t.target]}: n/a, ${t.unsupported}`] : t.failed ? [`${TARGET_LABEL[t.target]} failed: ${t.failed}`] : [],
  );
}

/** What the gateway counted itself during the measured rounds: statuses and authentication outcomes. */
export function answersLine(result: ModeResult): string | undefined {
  const a = result.gatewayAnswers;
  if (!a) return undefined;
  const list = (m: Readonly<Record<string, number>>) =>
    Object.entries(m).sort((x, y) => y[1] - x[1]).map(([k, n]) => `${n.toLocaleString('en')} × ${k}`).join(', ') || 'none';
  return `gateway answers during the measured rounds (its /metrics): ${list(a.statuses)}; authentication outcomes: ${list(a.outcomes)}` +
    (a.statuses['499'] ? ' (499: requests in flight when wrk closed its connections at the end of a load)' : '');
}

export function cacheLine(result: ModeResult): string | undefined {
  const c = result.gatewayCache;
  if (!c) return undefined;
  const total = c.hit + c.miss;
  const name = result.mode.gatewayCache ? `${result.mode.gatewayCache} cache` : 'token cache';
  // In the modes where every request needs a signature check, hits mean the token list was too short.
  const repeated = result.mode.floorKeyFile !== undefined && total > 0 && c.hit / total > 0.01;
  return `gateway ${name} during the measured rounds: ${c.hit.toLocaleString('en')} hits, ${c.miss.toLocaleString('en')} misses` +
    (total > 0 ? ` (${((100 * c.hit) / total).toFixed(1)}% hits)` : '') +
    (repeated ? '; **tokens came back while the gateway still remembered them: raise --fresh-tokens**' : '');
}

/** A warning when other work took much of the server core while it was measured; undefined when it did not. */
export function noiseLine(samplesByName: readonly { name: string; samples: readonly Sample[] }[]): string | undefined {
  const noisy = noisyTargets(samplesByName);
  if (noisy.length === 0) return undefined;
  return `noisy: other load took ${noisy.map((n) => `${Math.round(n.share * 100)}% of the server core while ${n.name} ran`).join(', ')}; ` +
    'req/s and its ratios measured contention, compare CPU µs per request instead';
}

const modeNoise = (result: ModeResult) => noiseLine(result.targets.map((t) => ({ name: t.target, samples: t.samples })));

function padTable(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ')).join('\n');
}

function markdownTable(rows: string[][], leftColumns = 1): string {
  const [head, ...body] = rows;
  const line = (r: string[]) => `| ${r.join(' | ')} |`;
  return [line(head!), `|${head!.map((_, i) => (i < leftColumns ? ' --- ' : ' ---: ')).join('|')}|`, ...body.map(line)].join('\n');
}

export function consoleMode(result: ModeResult): string {
  const { mode } = result;
  const parts = [
    `\nmode ${mode.id}: ${mode.title} (expect ${mode.expectStatus})`,
    padTable(modeRows(result)),
    ...targetNotes(result).map((n) => `  ${n}`),
    ...checkLines(result),
  ];
  const vsBaseline = baselineLine(result);
  if (vsBaseline) parts.push(vsBaseline);
  const cache = cacheLine(result);
  if (cache) parts.push(cache);
  const answers = answersLine(result);
  if (answers) parts.push(answers);
  const noise = modeNoise(result);
  if (noise) parts.push(`! ${noise}`);
  const headroom = headroomLine(result);
  if (headroom) parts.push(`! ${headroom}`);
  for (const p of result.problems) parts.push(`! ${p}`);
  return parts.join('\n');
}

/** Rows of the authorization-service table: a header row, then one row per rate mode. */
export function rateRows(results: readonly RateResult[]): string[][] {
  const rows = [['mode', 'req/s', 'req/s per round', 'CPU µs/req', 'p50 ms', 'p99 ms', 'other load on server core', 'load core busy']];
  for (const r of results) {
    const m = medians(r.samples);
    const label = `${r.id}: ${r.title}`;
    if (!m) {
      rows.push([label, 'failed', '', '', '', '', '', '']);
      continue;
    }
    rows.push([
      label,
      int(m.rps),
      r.samples.map((s) => int(s.rps)).join(' / '),
      int(m.cpuUsPerReq),
      fmt(m.p50Ms, 2),
      fmt(m.p99Ms, 2),
      m.foreignCpuShare === undefined ? '–' : `${Math.round(m.foreignCpuShare * 100)}%`,
      m.loadCoreBusyShare === undefined ? '–' : `${Math.round(m.loadCoreBusyShare * 100)}%`,
    ]);
  }
  return rows;
}

function rateNotes(results: readonly RateResult[]): { notes: string[]; problems: string[] } {
  return {
    notes: results.flatMap((r) => [...(r.failed ? [`${r.id} failed: ${r.failed}`] : []), ...r.notes.map((n) => `${r.id}: ${n}`)]),
    problems: [
      ...results.flatMap((r) => r.problems.map((p) => `${r.id}, ${p}`)),
      ...[noiseLine(results.map((r) => ({ name: r.id, samples: r.samples })))].filter((n): n is string => n !== undefined),
    ],
  };
}

export function consoleRates(results: readonly RateResult[]): string {
  if (results.length === 0) return '';
  const { problems } = rateNotes(results);
  return [
    '\nauthorization service alone (no bare-proxy ratio)',
    padTable(rateRows(results)),
    ...results.flatMap((r) => (r.failed ? [`  ${r.id} failed: ${r.failed}`] : [])),
    ...problems.map((p) => `! ${p}`),
  ].join('\n');
}

/** The results file's section on the authorization service's own rates; empty when none ran. */
export function rateSection(results: readonly RateResult[], facts: { connections: number; durationS: number; rounds: number }): string[] {
  if (results.length === 0) return [];
  const { notes, problems } = rateNotes(results);
  return [
    '## Authorization service',
    '',
    'The service alone, loaded with POST requests (a proxy ratio means nothing here). It runs in its own process on the server core, ' +
      `a fresh SQLite store per mode; ${facts.rounds} round(s) × ${facts.durationS} s, ${facts.connections} connections, every answer must be 200.`,
    '',
    markdownTable(rateRows(results)),
    '',
    ...notes.map((n) => `- ${n}`),
    ...problems.map((p) => `- **Problem:** ${p}`),
    '',
  ];
}

/** One line per check over all modes: the summary printed last and put first in the file. */
export function summaryRows(results: readonly ModeResult[]): string[][] {
  const rows = [['mode', 'check', 'req/s ratio', 'result', 'rounds met', 'CPU/req ratio', 'median per-round ratio', 'verify floor']];
  for (const r of results) {
    for (const c of checks(r)) {
      rows.push([
        `${r.mode.id}: ${r.mode.title}`, c.label, `${ratioText(c)}×`, verdict(c), `${c.roundsMet} of ${c.roundsPaired}`, `${fmt(c.cpuValue, 2)}×`, `${fmt(c.pairedValue, 2)}×`,
        c.floorValue === undefined ? '' : `${fmt(c.floorValue, 2)}×`,
      ]);
    }
  }
  return rows;
}

export function consoleSummary(results: readonly ModeResult[]): string {
  return '\nsummary (result: the issue\'s check, the ratio of median req/s; rounds met: rounds whose own ratio meets the line; ' +
    `the bench reports, it never fails the build)\n${padTable(summaryRows(results))}`;
}

export function markdownReport(results: readonly ModeResult[], facts: RunFacts, rates: readonly RateResult[] = []): string {
  const { args, machine } = facts;
  const out: string[] = [];
  out.push('# Gatehouse benchmark — latest run', '');
  out.push(
    `Run ${facts.startedAt}, ${Math.round(facts.elapsedS)} s in all. Written by \`npm run bench\` (bench/run.ts); ` +
      'ratios are of median req/s over the rounds, each target loaded back to back in every round.',
    '',
  );
  if (args.quick) out.push('**Quick run (`--quick`): one short round — a smoke test, not a result.**', '');
  if (results.length > 0) out.push('## Summary', '', markdownTable(summaryRows(results), 2), '');
  for (const r of results) {
    out.push(`## Mode ${r.mode.id}: ${r.mode.title}`, '');
    out.push(`Every response must be ${r.mode.expectStatus} (the bare proxy, which checks nothing: 200).`, '');
    out.push(markdownTable(modeRows(r)), '');
    for (const line of [...targetNotes(r), ...checkLines(r)]) out.push(`- ${line}`);
    const vsBaseline = baselineLine(r);
    if (vsBaseline) out.push(`- ${vsBaseline}`);
    const cache = cacheLine(r);
    if (cache) out.push(`- ${cache}`);
    const answers = answersLine(r);
    if (answers) out.push(`- ${answers}`);
    const noise = modeNoise(r);
    if (noise) out.push(`- **${noise}**`);
    const headroom = headroomLine(r);
    if (headroom) out.push(`- **${headroom}**`);
    for (const n of r.mode.notes) out.push(`- ${n}`);
    for (const p of r.problems) out.push(`- **Problem:** ${p}`);
    out.push('');
  }
  out.push(...rateSection(rates, { connections: Math.min(args.connections, AUTH_RATE_MAX_CONNECTIONS), durationS: args.authDurationS, rounds: args.rounds }));
  out.push('## Parameters', '');
  out.push(
    `- Modes: ${[...results.map((r) => r.mode.id), ...rates.map((r) => r.id)].join(', ')}`,
    `- ${args.rounds} round(s) × ${args.durationS} s per target, ${args.connections} connections, ${args.warmupS} s unmeasured warm-up per target per mode`,
    `- Load generator: ${facts.generator}`,
    `- Layout: ${facts.layout}`,
    `- Gateway: one process, \`logging.level: ${args.gatewayLogLevel}\`, \`security.tokenCache.maxEntries: ${args.tokenCacheEntries}\`, ` +
      'one route `/api/orders` (auth jwt, scope `orders:read`; session modes: auth session; o-opaque: auth opaque, introspection cached 1 h); requests go to `/api/orders/42`',
    '- Peers verify the same tokens: same public key (imported once), algorithm allow-list, issuer, audience and scope; keep-alive pools of 128 upstream connections everywhere',
    '- CPU µs/req: run time of the server process (all threads, nanoseconds from /proc/<pid>/task/*/schedstat) over the load, ÷ completed requests; "server core used": that time ÷ the duration of the load (below about 95% for the bare proxy, the load side held it back)',
    ...(results.some((r) => r.mode.id === 'o-opaque') || rates.length > 0
      ? ['- Authorization service: `startAuthService(config)` (src/auth-service) in its own process, SQLite store, ES256 signing, a JWT and an opaque resource (access tokens live 24 h); ' +
          'for o-opaque it runs pinned to the load core beside the upstream (it only answers the warm-up\'s introspections), for the `as-*` rates on the server core as the server under test']
      : []),
    '- Tokens: RSA 2048 (RS256), P-256 (ES256), Ed25519 (EdDSA), pre-signed with node:crypto in worker threads',
    ...facts.fixtureNotes.map((n) => `- ${n}`),
    ...(facts.baseline ? [`- Baseline: the gateway of ${facts.baseline}, same config, loaded in the same rounds`] : []),
    `- Command: \`${facts.command}\``,
    `- Machine load (1-minute load average) at start and end: ${facts.loadAverage[0].toFixed(2)}, ${facts.loadAverage[1].toFixed(2)}; ` +
      'of the last two columns (medians), "other load on server core" is the share of core 1 not spent by the server under test ' +
      '(other processes, and kernel network work not charged to it), "load core busy" how busy core 0 was (wrk, the upstream, anything else): ' +
      'near 100% there, the client side capped the rate, not the server',
    '',
  );
  out.push('## Machine', '');
  out.push(
    `- CPU: ${machine.cpuModel}, ${machine.cores} cores; ${machine.memoryGiB} GiB memory; Linux ${machine.kernel}`,
    `- Node.js ${machine.node}; gatehouse ${machine.gatehouse}`,
    `- Packages: ${Object.entries(machine.packages).map(([k, v]) => `${k} ${v}`).join(', ')}`,
    '',
  );
  return out.join('\n');
}
