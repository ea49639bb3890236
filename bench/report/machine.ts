import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, release, totalmem } from 'node:os';
import { join } from 'node:path';

export interface MachineFacts {
  readonly cpuModel: string;
  readonly cores: number;
  readonly memoryGiB: number;
  readonly kernel: string;
  readonly node: string;
  readonly gatehouse: string;
  readonly packages: Record<string, string>;
}

const PACKAGES = [
  'jose', 'undici', 'express', 'express-jwt', 'jsonwebtoken', 'http-proxy-middleware', 'httpxy',
  'fastify', '@fastify/jwt', 'fast-jwt', '@fastify/reply-from', 'autocannon',
];

function packageVersion(root: string, name: string): string {
  try {
    return (JSON.parse(readFileSync(join(root, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'not installed';
  }
}

function gitDescribe(root: string): string {
  // Set when the bench runs from an exported tree (git archive), which has no .git.
  if (process.env.GH_BENCH_SOURCE) return process.env.GH_BENCH_SOURCE;
  try {
    const quiet: { cwd: string; encoding: 'utf8'; stdio: ('ignore' | 'pipe')[] } = { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] };
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], quiet).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src'], quiet).trim() !== '';
    return `${commit}${dirty ? ' (src/ has uncommitted changes)' : ''}`;
  } catch {
    return 'unknown';
  }
}

export function machineFacts(root: string): MachineFacts {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
  return {
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    kernel: release(),
    node: process.version,
    gatehouse: `${pkg.version} @ ${gitDescribe(root)}`,
    packages: Object.fromEntries(PACKAGES.map((name) => [name, packageVersion(root, name)])),
  };
}

/** The load generator's own version line, e.g. `wrk debian/4.1.0-3+b2 [epoll]`. */
export function wrkVersion(wrk: string): string {
  try {
    execFileSync(wrk, ['-v'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    // wrk -v prints its version and exits 1.
    const out = String((err as { stdout?: string }).stdout ?? '');
    return out.split('\n')[0]?.replace(/\s+Copyright.*$/, '').trim() || 'wrk';
  }
  return 'wrk';
}
