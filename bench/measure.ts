import type { LoadResult } from './load/load.js';
import type { Sample } from './report/stats.js';
import { readCoreMicros, type ChildHandle } from './targets/spawn.js';
import type { Placement } from './targets/start.js';

/** How often to look whether the load has reached the server (its CPU time moving), in ms. */
const LOAD_START_POLL_MS = 20;
/** CPU time the server must have spent since the load was launched to count as loaded, in µs. */
const LOAD_START_CPU_US = 2_000;

/**
 * Runs one measured load against `child` and turns it into a sample: the
 * generator's rate and latencies, the child's CPU time per request, and how
 * busy the two cores were meanwhile (undefined when nothing is pinned).
 *
 * The two core figures are read from the moment the server starts working, not
 * from the launch of wrk: wrk first formats its whole credential list (half a
 * second for 150,000 tokens), busy on the load core while the server core idles,
 * which would dilute both figures by a sixth in a 3-second load.
 */
export async function measureLoad(child: ChildHandle, placement: Placement, round: number, load: () => Promise<LoadResult>): Promise<{ sample: Sample; result: LoadResult }> {
  const core = placement.serverCore;
  const loadCore = placement.loadCore;
  const cpuBefore = child.cpuMicros();
  let coreBefore = core === undefined ? undefined : readCoreMicros(core);
  let loadBefore = loadCore === undefined ? undefined : readCoreMicros(loadCore);
  let windowCpuBefore = cpuBefore;
  const poll = setInterval(() => {
    const cpu = child.cpuMicros();
    if (cpu - cpuBefore < LOAD_START_CPU_US) return;
    clearInterval(poll);
    windowCpuBefore = cpu;
    if (core !== undefined) coreBefore = readCoreMicros(core);
    if (loadCore !== undefined) loadBefore = readCoreMicros(loadCore);
  }, LOAD_START_POLL_MS);
  let r: LoadResult;
  try {
    r = await load();
  } finally {
    clearInterval(poll);
  }
  const coreAfter = core === undefined ? undefined : readCoreMicros(core);
  const loadAfter = loadCore === undefined ? undefined : readCoreMicros(loadCore);
  const cpuAfter = child.cpuMicros();
  const cpuUs = cpuAfter - cpuBefore;
  const windowCpuUs = cpuAfter - windowCpuBefore;
  const sample: Sample = {
    round,
    rps: r.rps,
    cpuUsPerReq: r.requests > 0 ? cpuUs / r.requests : Number.NaN,
    p50Ms: r.p50Ms,
    p99Ms: r.p99Ms,
    requests: r.requests,
    errorStatuses: r.errorStatuses,
    socketErrors: r.socketErrors,
    foreignCpuShare:
      coreBefore && coreAfter && coreAfter.total > coreBefore.total
        ? Math.max(0, coreAfter.busy - coreBefore.busy - windowCpuUs) / (coreAfter.total - coreBefore.total)
        : undefined,
    serverCoreShare: r.durationS > 0 ? cpuUs / (r.durationS * 1e6) : Number.NaN,
    loadCoreBusyShare:
      loadBefore && loadAfter && loadAfter.total > loadBefore.total ? (loadAfter.busy - loadBefore.busy) / (loadAfter.total - loadBefore.total) : undefined,
  };
  return { sample, result: r };
}
