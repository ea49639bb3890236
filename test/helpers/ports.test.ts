import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { test } from 'node:test';
import { freePort } from './ports.js';

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
