import type { LoadResult } from './load/load.js';
import type { Sample } from './report/stats.js';
import { readCoreMicros, type ChildHandle } from './targets/spawn.js';
import type { Placement } from './targets/start.js';

/**
 * Runs one measured load against `child` and turns it into a sample: the
 * generator's rate and latencies, the child's CPU time per request, and how
 * busy the two cores were meanwhile (undefined when nothing is pinned).
 */
export async function measureLoad(child: ChildHandle, placement: Placement, round: number, load: () => Promise<LoadResult>): Promise<{ sample: Sample; result: LoadResult }> {
  const core = placement.serverCore;
  const loadCore = placement.loadCore;
  const cpuBefore = child.cpuMicros();
  const coreBefore = core === undefined ? undefined : readCoreMicros(core);
  const loadBefore = loadCore === undefined ? undefined : readCoreMicros(loadCore);
  const r = await load();
  const coreAfter = core === undefined ? undefined : readCoreMicros(core);
  const loadAfter = loadCore === undefined ? undefined : readCoreMicros(loadCore);
  const cpuUs = child.cpuMicros() - cpuBefore;
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
        ? Math.max(0, coreAfter.busy - coreBefore.busy - cpuUs) / (coreAfter.total - coreBefore.total)
        : undefined,
    loadCoreBusyShare:
      loadBefore && loadAfter && loadAfter.total > loadBefore.total ? (loadAfter.busy - loadBefore.busy) / (loadAfter.total - loadBefore.total) : undefined,
  };
  return { sample, result: r };
}
