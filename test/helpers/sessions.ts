import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { freePort } from './ports.js';

/** The shared Redis every Redis test uses; absence is a failure, never a skip. */
export const REDIS_URL = process.env.GATEHOUSE_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A key prefix unique to this run, so parallel runs never collide. */
export function randomPrefix(area = 'sess'): string {
  return `ghtest:${area}:${randomBytes(6).toString('hex')}:`;
}

/** Every key under `prefix`, by SCAN: KEYS would block the Redis that other test files share. */
export async function scanKeys(client: Redis, prefix: string): Promise<string[]> {
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
    cursor = next;
    found.push(...keys);
  } while (cursor !== '0');
  return found;
}

async function withClient<T>(url: string, use: (client: Redis) => Promise<T>): Promise<T> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  client.on('error', () => {});
  try {
    await client.connect();
    return await use(client);
  } finally {
    client.disconnect();
  }
}

/** Deletes every key under `prefix` (the test's own keys only). */
export async function deletePrefix(url: string, prefix: string): Promise<void> {
  await withClient(url, async (client) => {
    const keys = await scanKeys(client, prefix);
    for (let i = 0; i < keys.length; i += 500) await client.del(...keys.slice(i, i + 500));
  });
}

/** Counts keys under `prefix`. */
export async function countPrefix(url: string, prefix: string): Promise<number> {
  return withClient(url, async (client) => (await scanKeys(client, prefix)).length);
}

/**
 * A private redis-server child the test may stop, freeze and restart. Data
 * lives in an append-only file in a temp dir, so a restart keeps it (as a
 * production Redis with persistence would).
 */
export class DisposableRedis {
  private child: ChildProcess | undefined;
  private readonly dir = mkdtempSync(join(tmpdir(), 'gh-redis-'));

  private constructor(readonly port: number) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  static async start(): Promise<DisposableRedis> {
    const r = new DisposableRedis(await freePort());
    await r.start();
    return r;
  }

  async start(): Promise<void> {
    const previous = this.child;
    if (previous && previous.exitCode === null && previous.signalCode === null) await new Promise((resolve) => previous.once('exit', resolve));
    this.child = spawn(
      'redis-server',
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'yes', '--appendfsync', 'always', '--dir', this.dir],
      { stdio: 'ignore' },
    );
    for (let i = 0; i < 200; i++) {
      const c = new Redis(this.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      c.on('error', () => {});
      try {
        await c.connect();
        if ((await c.ping()) === 'PONG') return;
      } catch {
        // not up yet
      } finally {
        c.disconnect();
      }
      await sleep(25);
    }
    throw new Error(`redis-server on port ${this.port} did not start`);
  }

  /** SIGTERM and wait for exit (Redis flushes its AOF on the way out). */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
    this.child = undefined;
  }

  /**
   * SIGSTOP then SIGKILL, at once and synchronously (safe inside an event
   * handler): the server dies without applying anything sent to it after this
   * call, and keeps what it had written (append-only file). `start()` revives it.
   */
  crash(): void {
    this.child?.kill('SIGSTOP');
    this.child?.kill('SIGKILL');
  }

  /** SIGSTOP: the socket stays open but nothing answers. */
  freeze(): void {
    this.child?.kill('SIGSTOP');
  }

  thaw(): void {
    this.child?.kill('SIGCONT');
  }

  async dispose(): Promise<void> {
    this.thaw();
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
