import { randomInt } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A loopback port that is free now, for a server whose URL must be known
 * before it starts (an issuer, a redirect URI, a private redis-server).
 *
 * Chosen below the kernel's ephemeral range: outgoing connections draw their
 * source ports from that range, so a port picked there and released can be
 * taken by any client socket of a test running in parallel before our server
 * binds it (seen as EADDRINUSE in CI). Below the range only another explicit
 * pick can collide: each pick is random among thousands, checked free, and
 * reserved (see {@link reservePort}), so no other test file on this machine
 * gets it while its server starts, stops or restarts on it.
 */
export async function freePort(): Promise<number> {
  const [low] = ephemeralRange();
  if (low - 1 > BELOW_FROM) {
    for (let attempt = 0; attempt < 20; attempt++) {
      const port = randomInt(BELOW_FROM, low);
      if (reservePort(port) && (await tryListen(port)) !== undefined) return port;
    }
  }
  // A machine whose ephemeral range starts very low: let the kernel choose.
  const port = await tryListen(0);
  if (port === undefined) throw new Error('no free loopback port');
  return port;
}

const RESERVATIONS = join(tmpdir(), 'gatehouse-test-ports');
/** Longer than any test file holds a port; an older claim (a crashed run) is taken over. */
const RESERVATION_MS = 10 * 60_000;

/**
 * Claims `port` for this process with a file created exclusively, so parallel
 * test files (each its own process) never pick the same port, even in the time
 * between a pick and the bind, or while a test has stopped a server it will
 * start again on that port (an identity provider or Redis "going away").
 * False when another claim younger than ten minutes holds it.
 */
export function reservePort(port: number, nowMs = Date.now()): boolean {
  mkdirSync(RESERVATIONS, { recursive: true });
  const file = join(RESERVATIONS, String(port));
  try {
    writeFileSync(file, String(process.pid), { flag: 'wx' });
    return claimed(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  try {
    if (nowMs - statSync(file).mtimeMs < RESERVATION_MS) return false;
    writeFileSync(file, String(process.pid));
    return claimed(file);
  } catch {
    return false;
  }
}

/** This process's reservation files, removed when it exits (they would pile up in /tmp run after run). */
const ownFiles = new Set<string>();

function claimed(file: string): true {
  if (ownFiles.size === 0) process.once('exit', releaseOwnFiles);
  ownFiles.add(file);
  return true;
}

function releaseOwnFiles(): void {
  for (const file of ownFiles) {
    try {
      // Only a claim still ours: a stale one may have been taken over by another process.
      if (readFileSync(file, 'utf8') === String(process.pid)) rmSync(file);
    } catch {
      // already gone
    }
  }
}

/** Ports below this are left to system services. */
const BELOW_FROM = 20_000;

function ephemeralRange(): [number, number] {
  try {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (Number.isInteger(low) && Number.isInteger(high)) return [low!, high!];
  } catch {
    // Not Linux: the IANA dynamic range.
  }
  return [49152, 65535];
}

/** The port bound (and released again), or undefined when it is taken. */
function tryListen(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(undefined));
    srv.listen(port, '127.0.0.1', () => {
      const bound = (srv.address() as { port: number }).port;
      srv.close(() => resolve(bound));
    });
  });
}
