import assert from 'node:assert/strict';
import { readFileSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { test } from 'node:test';
import { freePort, reservePort } from './ports.js';

test('freePort: a port below the ephemeral range (where client sockets never land) that a server can bind', async () => {
  const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
  const ports = new Set<number>();
  for (let i = 0; i < 5; i++) {
    const port = await freePort();
    assert.ok(port >= 20_000 && port < low, `${port} below ${low}`);
    ports.add(port);
    const srv = createServer();
    await new Promise<void>((resolve, reject) => srv.once('error', reject).listen(port, '127.0.0.1', resolve));
    await new Promise<void>((resolve) => srv.close(() => resolve()));
  }
  assert.ok(ports.size > 1, 'picked at random, not one fixed port');
});

test('reservePort: a port is claimed once across test processes; a claim older than ten minutes is taken over', () => {
  const port = 1_000 + (process.pid % 9_000); // outside freePort's range: no real pick is disturbed
  const file = join(tmpdir(), 'gatehouse-test-ports', String(port));
  const old = (Date.now() - 11 * 60_000) / 1000;
  // Whatever an earlier run left: made stale, then claimed afresh.
  reservePort(port);
  utimesSync(file, old, old);
  assert.equal(reservePort(port), true, 'a stale claim is taken over');
  assert.equal(reservePort(port), false, 'a fresh claim holds');
  assert.equal(readFileSync(file, 'utf8'), String(process.pid));
  assert.equal(reservePort(port, Date.now() + 11 * 60_000), true, 'and expires');
});
