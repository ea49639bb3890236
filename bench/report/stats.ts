import { expectedStatus, type ModeSpec, type TargetKind } from '../modes.js';
import type { GatewayAnswers } from '../probe.js';

/** One measured load of one target in one round. */
export interface Sample {
  readonly round: number;
  readonly rps: number;
  /** CPU time of the server process per completed request, in microseconds. */
  readonly cpuUsPerReq: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly requests: number;
  readonly errorStatuses: number;
  readonly socketErrors: number;
  /**
   * Share of the server core used by other processes during the load (the
   * machine is shared): high values mean the sample measured contention.
   * undefined when processes are not pinned.
   */
  readonly foreignCpuShare: number | undefined;
  /**
   * How busy the load generator's core was (wrk, the upstream, and anything
   * else). Near 100%, the client side capped the rate, not the server.
   */
  readonly loadCoreBusyShare: number | undefined;
  /**
   * The server's CPU time over the load ÷ the load's duration: how much of its
   * core the server used. A server that is the bottleneck uses nearly all of it;
   * well below, the load side (wrk and the upstream on the other core) held it back.
   */
  readonly serverCoreShare: number;
}

export interface TargetResult {
  readonly target: TargetKind;
  /** Why a peer cannot take part in this mode (not a failure). */
  readonly unsupported?: string;
  /** Why the target was not (fully) measured: it failed to start or answered wrongly. */
  readonly failed?: string;
  readonly samples: Sample[];
}

export interface ModeResult {
  readonly mode: ModeSpec;
  readonly targets: TargetResult[];
  /** Gateway token-cache lookups during the measured rounds, from its /metrics. */
  readonly gatewayCache?: { hit: number; miss: number };
  /** What the gateway answered during the measured rounds, from its /metrics: statuses and authentication outcomes. */
  readonly gatewayAnswers?: GatewayAnswers;
  readonly problems: string[];
  /** Requests each target answered in this mode, warm-up included (to scale CPU profiles per request). */
  readonly served?: Partial<Record<TargetKind, number>>;
}

/** One authorization-service rate (`as-*`): the service alone under load, no bare-proxy ratio. */
export interface RateResult {
  readonly id: string;
  readonly title: string;
  readonly notes: readonly string[];
  readonly samples: Sample[];
  /** Why it was not (fully) measured. */
  readonly failed?: string;
  readonly problems: string[];
}

export interface Medians {
  readonly rps: number;
  readonly cpuUsPerReq: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly foreignCpuShare: number | undefined;
  readonly loadCoreBusyShare: number | undefined;
  readonly serverCoreShare: number;
}

export interface Check {
  readonly label: string;
  readonly value: number | undefined;
  /**
   * The same ratio from CPU time per request (other's µs ÷ gateway's µs): what the
   * req/s ratio would be if both were CPU-bound on a core of their own. Less
   * sensitive to other load on a shared machine; shown beside, never judged.
   */
  readonly cpuValue: number | undefined;
  /**
   * The median of the per-round ratios (each round's two loads back to back):
   * drift on a shared machine hits both sides of a pair, so this moves less
   * than the ratio of medians, which may pair a fast round with a slow one.
   * Shown beside, never judged: the check is the ratio of medians.
   */
  readonly pairedValue: number | undefined;
  /**
   * Rounds whose paired ratio meets `min`, of the rounds paired. With single
   * rounds spreading ±25% on a shared machine, a verdict that 2 of 5 rounds
   * agree with is not settled by this run.
   */
  readonly roundsMet: number;
  readonly roundsPaired: number;
  /**
   * On the bare-proxy check of a mode with a `floor` target: the floor's own
   * ratio to the bare proxy, i.e. the most any gateway that checks every
   * signature could score here. Shown beside, never judged.
   */
  readonly floorValue?: number;
  readonly min: number;
  /** undefined when it could not be measured, or the measurement is void (see `void`). */
  readonly pass: boolean | undefined;
  /** Why the check is void: one side answered too many requests with another status than its mode expects. */
  readonly void?: string;
}

/** Above this share of responses with another status than expected, a target's rate measured something else. */
export const MAX_WRONG_STATUS_SHARE = 0.001;

/**
 * Share of `target`'s responses (over all rounds) whose status was not the one
 * expected, as far as wrk tells: it counts statuses of 400 and more, so a 403
 * in a mode expecting 401 is not seen here (the gateway's own counts are, in
 * {@link ModeResult.gatewayAnswers}).
 */
export function wrongStatusShare(result: ModeResult, target: TargetKind): number {
  const samples = targetResult(result, target)?.samples ?? [];
  const requests = samples.reduce((n, s) => n + s.requests, 0);
  if (requests === 0) return 0;
  const errors = samples.reduce((n, s) => n + s.errorStatuses, 0);
  return (expectedStatus(target, result.mode) < 400 ? errors : requests - errors) / requests;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function medians(samples: readonly Sample[]): Medians | undefined {
  if (samples.length === 0) return undefined;
  return {
    rps: median(samples.map((s) => s.rps)),
    cpuUsPerReq: median(samples.map((s) => s.cpuUsPerReq)),
    p50Ms: median(samples.map((s) => s.p50Ms)),
    p99Ms: median(samples.map((s) => s.p99Ms)),
    foreignCpuShare: samples[0]?.foreignCpuShare === undefined ? undefined : median(samples.map((s) => s.foreignCpuShare ?? 0)),
    loadCoreBusyShare: samples[0]?.loadCoreBusyShare === undefined ? undefined : median(samples.map((s) => s.loadCoreBusyShare ?? 0)),
    serverCoreShare: median(samples.map((s) => s.serverCoreShare)),
  };
}

export function targetResult(result: ModeResult, target: TargetKind): TargetResult | undefined {
  return result.targets.find((t) => t.target === target);
}

/** Median req/s of `target` ÷ median req/s of `base`, in the same mode. */
export function ratioOfMedians(result: ModeResult, target: TargetKind, base: TargetKind): number | undefined {
  const t = medians(targetResult(result, target)?.samples ?? []);
  const b = medians(targetResult(result, base)?.samples ?? []);
  return t && b && b.rps > 0 ? t.rps / b.rps : undefined;
}

/** Per-round ratios of `target` to `base` (same round, back to back). */
export function roundRatios(result: ModeResult, target: TargetKind, base: TargetKind): number[] {
  const t = targetResult(result, target)?.samples ?? [];
  const b = targetResult(result, base)?.samples ?? [];
  return t.flatMap((s) => {
    const other = b.find((x) => x.round === s.round);
    return other && other.rps > 0 ? [s.rps / other.rps] : [];
  });
}

/**
 * Per-round CPU µs per request of `target` minus that of `base`, paired by
 * round: negative where `target` was cheaper. Pairing cancels most of the
 * drift of a shared machine, which moves both loads of a round together.
 */
export function roundCpuDiffs(result: ModeResult, target: TargetKind, base: TargetKind): number[] {
  const t = targetResult(result, target)?.samples ?? [];
  const b = targetResult(result, base)?.samples ?? [];
  return t.flatMap((s) => {
    const other = b.find((x) => x.round === s.round);
    return other && Number.isFinite(s.cpuUsPerReq) && Number.isFinite(other.cpuUsPerReq) ? [s.cpuUsPerReq - other.cpuUsPerReq] : [];
  });
}

/** Median CPU µs per request of `base` ÷ that of `target`: the efficiency ratio. */
export function cpuRatio(result: ModeResult, target: TargetKind, base: TargetKind): number | undefined {
  const t = medians(targetResult(result, target)?.samples ?? []);
  const b = medians(targetResult(result, base)?.samples ?? []);
  return t && b && t.cpuUsPerReq > 0 ? b.cpuUsPerReq / t.cpuUsPerReq : undefined;
}

export function checks(result: ModeResult): Check[] {
  const { mode } = result;
  const out: Check[] = [];
  const versus = (base: TargetKind, min: number, label: string): Check => {
    const value = ratioOfMedians(result, 'gateway', base);
    const paired = roundRatios(result, 'gateway', base);
    const wrong = (['gateway', base] as const).find((t) => wrongStatusShare(result, t) > MAX_WRONG_STATUS_SHARE);
    const voided = wrong === undefined ? undefined : `${wrong}: ${(wrongStatusShare(result, wrong) * 100).toFixed(1)}% of responses had another status than expected`;
    return {
      label,
      value,
      cpuValue: cpuRatio(result, 'gateway', base),
      pairedValue: paired.length > 0 ? median(paired) : undefined,
      roundsMet: paired.filter((r) => r >= min).length,
      roundsPaired: paired.length,
      min,
      pass: value === undefined || voided !== undefined ? undefined : value >= min,
      ...(voided === undefined ? {} : { void: voided }),
    };
  };
  const floor = ratioOfMedians(result, 'floor', 'bare');
  const vsBare = versus('bare', mode.minRatioVsBare, `gateway ÷ bare proxy ≥ ${mode.minRatioVsBare.toFixed(2)}`);
  out.push(floor === undefined ? vsBare : { ...vsBare, floorValue: floor });
  for (const peer of ['express', 'fastify'] as const) {
    if (targetResult(result, peer)?.unsupported) continue;
    out.push(versus(peer, mode.minRatioVsPeer, `gateway ÷ ${peer} ≥ ${mode.minRatioVsPeer.toFixed(1)}`));
  }
  return out;
}

/** Below this median share of its core, the bare proxy was held back by the load side, not by its own CPU. */
export const BARE_SATURATED_SHARE = 0.95;

/** The bare proxy's median share of its core when below {@link BARE_SATURATED_SHARE}; undefined when it saturated its core. */
export function bareHeadroom(result: ModeResult): number | undefined {
  const share = medians(targetResult(result, 'bare')?.samples ?? [])?.serverCoreShare;
  return share !== undefined && share < BARE_SATURATED_SHARE ? share : undefined;
}

/** Above this median share of the server core taken by other work, a sample measured contention more than the server. */
export const NOISY_FOREIGN_SHARE = 0.2;

/**
 * The targets whose median "other load on server core" is above
 * {@link NOISY_FOREIGN_SHARE}, with that share: their req/s (and the ratios) are
 * not to be trusted; the CPU-per-request ratio is the steadier figure then.
 */
export function noisyTargets(samplesByName: readonly { name: string; samples: readonly Sample[] }[]): { name: string; share: number }[] {
  return samplesByName.flatMap(({ name, samples }) => {
    const share = medians(samples)?.foreignCpuShare;
    return share !== undefined && share > NOISY_FOREIGN_SHARE ? [{ name, share }] : [];
  });
}

export function verdict(check: Check): string {
  if (check.void !== undefined) return 'VOID';
  return check.pass === undefined ? 'n/a' : check.pass ? 'PASS' : 'MISS';
}
