import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { fileURLToPath } from 'node:url';
import type { ChildSettings, ReadyMessage } from './child.js';

/** A running child process of the bench. */
export interface ChildHandle {
  readonly name: string;
  readonly pid: number;
  readonly port: number;
  /** Process CPU time (all threads) so far, in microseconds, from /proc (see {@link readCpuMicros}). */
  cpuMicros(): number;
  stop(): Promise<void>;
}

export interface SpawnOptions {
  readonly name: string;
  /** Node script to run. */
  readonly script: URL;
  readonly args?: readonly string[];
  readonly nodeArgs?: readonly string[];
  readonly settings: ChildSettings;
  /** CPU core to pin the process to with taskset; undefined leaves it unpinned. */
  readonly core?: number;
  /** `ipc`: the child reports its port; a URL: poll it until it answers (for the CLI). */
  readonly ready: 'ipc' | { url: string; port: number };
  readonly verbose?: boolean;
  readonly readyTimeoutMs?: number;
}

const CLOCK_TICKS_PER_SECOND = 100; // USER_HZ; `getconf CLK_TCK` is 100 on every Linux this runs on

/**
 * CPU time of a process so far (all its threads), in microseconds: the sum of
 * each thread's run time in nanoseconds from /proc/<pid>/task/<tid>/schedstat.
 * /proc/<pid>/stat counts in 10 ms ticks, ±0.25 µs per request over a 3-second
 * round of (a), which is as large as the differences an A/B run resolves. The
 * threads of a Node server (main, V8 and libuv workers) live as long as it does,
 * so the sum only grows. Falls back to the ticks where schedstat is missing.
 */
export function readCpuMicros(pid: number): number {
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return readCpuTicksMicros(pid);
  }
  let ns = 0;
  let read = 0;
  for (const tid of tids) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ', 1)[0]);
      read++;
    } catch {
      // A thread that ended between the listing and the read: its time is gone from both clocks' view here.
    }
  }
  // The ticks only where schedstat is missing altogether, so one measurement never mixes the two clocks.
  return read > 0 && Number.isFinite(ns) ? ns / 1000 : readCpuTicksMicros(pid);
}

/** utime + stime of a process from /proc/<pid>/stat, in microseconds (10 ms resolution). */
export function readCpuTicksMicros(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name is in parentheses and may contain spaces: split after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return (ticks * 1_000_000) / CLOCK_TICKS_PER_SECOND;
}

/** Busy and total time of one CPU core so far, in microseconds, from /proc/stat. */
export function readCoreMicros(core: number): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`cpu${core} `));
  if (!line) return { busy: 0, total: 0 };
  // user nice system idle iowait irq softirq steal …
  const ticks = line.trim().split(/\s+/).slice(1, 9).map(Number);
  const total = ticks.reduce((a, b) => a + b, 0);
  const idle = ticks[3]! + ticks[4]!;
  const us = 1_000_000 / CLOCK_TICKS_PER_SECOND;
  return { busy: (total - idle) * us, total: total * us };
}

export async function spawnChild(opts: SpawnOptions, pin: { taskset: string | undefined }): Promise<ChildHandle> {
  const nodeArgv = [...(opts.nodeArgs ?? []), fileURLToPath(opts.script), ...(opts.args ?? [])];
  const [cmd, argv] =
    pin.taskset && opts.core !== undefined
      ? [pin.taskset, ['-c', String(opts.core), process.execPath, ...nodeArgv]]
      : [process.execPath, nodeArgv];
  const env = { ...process.env, GH_BENCH_CHILD: JSON.stringify(opts.settings), NODE_ENV: 'production' };
  const child = spawn(cmd, argv, {
    env,
    stdio: ['ignore', opts.verbose ? 'inherit' : 'ignore', 'pipe', 'ipc'],
  });
  let stderrTail = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    if (opts.verbose) process.stderr.write(chunk);
    stderrTail = (stderrTail + chunk.toString()).slice(-4000);
  });
  const failure = () => new Error(`${opts.name} failed to start:\n${stderrTail.trim() || '(no output)'}`);

  const port = await waitReady(child, opts, failure);
  const pid = child.pid!;
  return {
    name: opts.name,
    pid,
    port,
    cpuMicros: () => readCpuMicros(pid),
    stop: () => stopChild(child, opts.ready === 'ipc'),
  };
}

function waitReady(child: ChildProcess, opts: SpawnOptions, failure: () => Error): Promise<number> {
  const timeoutMs = opts.readyTimeoutMs ?? 20_000;
  return new Promise<number>((resolve, reject) => {
    let settled = false;
    const done = (err: Error | undefined, port?: number) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err) {
        child.kill('SIGKILL');
        reject(err);
      } else resolve(port!);
    };
    const timer = setTimeout(() => done(new Error(`${opts.name} not ready after ${timeoutMs} ms\n${failure().message}`)), timeoutMs);
    child.once('exit', () => setTimeout(() => done(failure()), 50));
    child.once('error', (err) => done(err));
    if (opts.ready === 'ipc') {
      child.on('message', (m: unknown) => {
        const msg = m as ReadyMessage;
        if (msg?.type === 'ready') done(undefined, msg.port);
      });
    } else {
      const { url, port } = opts.ready;
      const poll = () => {
        if (settled) return;
        probeOk(url).then(
          (ok) => (ok ? done(undefined, port) : setTimeout(poll, 100)),
          () => setTimeout(poll, 100),
        );
      };
      poll();
    }
  });
}

function probeOk(url: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const req = request(url, { timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end();
  });
}

function stopChild(child: ChildProcess, viaIpc: boolean): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    // Our own children exit on `stop`; the CLI drains on SIGTERM (both exit cleanly, so profiles get written).
    if (viaIpc && child.connected) child.send({ type: 'stop' });
    else child.kill('SIGTERM');
  });
}
