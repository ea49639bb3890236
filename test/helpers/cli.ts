import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The built CLI next to this helper: works from dist/ and from a per-engineer build folder alike. */
export const CLI_MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

export interface CliResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface CliOptions {
  readonly env?: NodeJS.ProcessEnv;
  readonly input?: string;
  readonly cwd?: string;
}

function childEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  // Port overrides from the developer's shell must not leak into tests.
  const { GATEHOUSE_PORT: _p, GATEHOUSE_ADMIN_PORT: _a, GATEHOUSE_AUTH_PORT: _u, ...env } = process.env;
  return { ...env, ...extra };
}

/** Runs a short command to completion. */
export function runCli(args: readonly string[], opts: CliOptions = {}): Promise<CliResult> {
  const child = spawn(process.execPath, [CLI_MAIN, ...args], { env: childEnv(opts.env), cwd: opts.cwd, stdio: 'pipe' });
  child.stdin.end(opts.input ?? '');
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** A long-running command (start, demo) whose output can be awaited line by line. */
export class CliProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly streams = { stdout: '', stderr: '' };
  private readonly waiters: (() => void)[] = [];
  private closed = false;

  constructor(args: readonly string[], opts: CliOptions = {}) {
    this.child = spawn(process.execPath, [CLI_MAIN, ...args], { env: childEnv(opts.env), cwd: opts.cwd, stdio: 'pipe' });
    for (const name of ['stdout', 'stderr'] as const) {
      this.child[name]!.setEncoding('utf8').on('data', (d: string) => {
        this.streams[name] += d;
        for (const w of this.waiters.splice(0)) w();
      });
    }
    // 'close', not 'exit': by then every byte of output has been read.
    this.exited = new Promise((resolve) =>
      this.child.once('close', (code, signal) => {
        this.closed = true;
        resolve({ code, signal });
      }),
    );
    void this.exited.then(() => {
      for (const w of this.waiters.splice(0)) w();
    });
  }

  get stdout(): string {
    return this.streams.stdout;
  }

  get stderr(): string {
    return this.streams.stderr;
  }

  /**
   * Resolves with the first complete line of `stream`, at or after `fromLine`, that
   * matches; rejects if the process exits first. The test runner's timeout bounds the wait.
   */
  async waitForLine(stream: 'stdout' | 'stderr', match: RegExp | ((line: string) => boolean), fromLine = 0): Promise<{ line: string; index: number }> {
    const test = typeof match === 'function' ? match : (l: string) => match.test(l);
    for (;;) {
      const lines = this.streams[stream].split('\n').slice(0, -1);
      for (let i = fromLine; i < lines.length; i++) if (test(lines[i] as string)) return { line: lines[i] as string, index: i };
      if (this.closed) {
        throw new Error(`process exited (${this.child.exitCode ?? this.child.signalCode}) before ${String(match)}\nstdout:\n${this.stdout}\nstderr:\n${this.stderr}`);
      }
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  /** Complete stdout lines parsed as JSON (log lines); other lines are skipped. */
  jsonLines(stream: 'stdout' | 'stderr' = 'stdout'): Record<string, unknown>[] {
    return this.streams[stream]
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .flatMap((l) => {
        try {
          return [JSON.parse(l) as Record<string, unknown>];
        } catch {
          return [];
        }
      });
  }

  /** Kills the process if it still runs (test cleanup). */
  async stop(): Promise<void> {
    if (!this.closed && this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    await this.exited;
  }
}
