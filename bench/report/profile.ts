import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Where a V8 CPU profile spends its time, by function (self time) and by file. */
export interface ProfileSummary {
  readonly file: string;
  readonly totalMs: number;
  /** Self time in µs of every function (key: name and location). */
  readonly selfUs: ReadonlyMap<string, number>;
  readonly functions: { name: string; ms: number; share: number }[];
  readonly files: { name: string; ms: number; share: number }[];
}

function shortUrl(url: string): string {
  if (!url) return '(native)';
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) return url.slice(nm + 'node_modules/'.length);
  const src = url.search(/\/(src|bench)\//);
  if (src >= 0) return url.slice(src + 1);
  return url.replace(/^file:\/\//, '');
}

export function summarizeProfile(file: string, top = 25): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!;
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const fn = new Map<string, number>();
  const files = new Map<string, number>();
  let total = 0;
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    if (!node) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    // The gateway idles while the other targets are loaded: shares are of busy time.
    if (functionName === '(idle)') continue;
    total += us;
    const where = url ? `${shortUrl(url)}:${lineNumber + 1}` : '';
    const key = `${functionName || '(anonymous)'} ${where}`.trim();
    fn.set(key, (fn.get(key) ?? 0) + us);
    const fileKey = url ? shortUrl(url).replace(/:\d+$/, '') : functionName;
    files.set(fileKey, (files.get(fileKey) ?? 0) + us);
  }
  const rank = (m: Map<string, number>) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]) => ({ name, ms: us / 1000, share: total > 0 ? us / total : 0 }));
  return { file, totalMs: total / 1000, selfUs: fn, functions: rank(fn), files: rank(files) };
}

export function latestProfiles(dir: string): string[] {
  try {
    return readdirSync(dir)
      .filter((f) => f.endsWith('.cpuprofile'))
      .map((f) => join(dir, f));
  } catch {
    return [];
  }
}

export function formatProfile(s: ProfileSummary, label: string): string {
  const pct = (v: number) => `${(v * 100).toFixed(1).padStart(5)}%`;
  return [
    `\nprofile ${label}: ${s.file} (${Math.round(s.totalMs)} ms busy; shares of busy time, start-up included)`,
    '  self time by function:',
    ...s.functions.map((f) => `  ${pct(f.share)}  ${f.name}`),
    '  self time by file:',
    ...s.files.slice(0, 15).map((f) => `  ${pct(f.share)}  ${f.name}`),
  ].join('\n');
}

/**
 * Functions whose self time per request is higher in `target` than in `base`
 * (both profiles under the same load): where the extra cost of a request goes.
 */
export function formatProfileDiff(
  target: ProfileSummary,
  targetRequests: number,
  base: ProfileSummary,
  baseRequests: number,
  label: string,
  top = 25,
): string {
  const per = (us: number | undefined, n: number) => (us ?? 0) / Math.max(1, n);
  const keys = new Set([...target.selfUs.keys(), ...base.selfUs.keys()]);
  const rows = [...keys]
    .map((k) => ({ k, t: per(target.selfUs.get(k), targetRequests), b: per(base.selfUs.get(k), baseRequests) }))
    .map((r) => ({ ...r, d: r.t - r.b }))
    .sort((x, y) => y.d - x.d)
    .slice(0, top);
  const totalT = target.totalMs * 1000 / Math.max(1, targetRequests);
  const totalB = base.totalMs * 1000 / Math.max(1, baseRequests);
  return [
    `\n${label}: ${totalT.toFixed(1)} µs busy per request vs ${totalB.toFixed(1)} µs (start-up and warm-up included); largest differences in self time:`,
    '   +µs/req   target    base  function',
    ...rows.map((r) => `  ${r.d.toFixed(2).padStart(7)}  ${r.t.toFixed(2).padStart(7)} ${r.b.toFixed(2).padStart(7)}  ${r.k}`),
  ].join('\n');
}
