import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';

/** Runs `body` in a fresh Node process with lifecycle.js imported as `lc`; resolves its exit and output. */
function runChild(body: string): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string }> {
  const lifecycle = new URL('./lifecycle.js', import.meta.url).href;
  const script = `const lc = await import(${JSON.stringify(lifecycle)});
const logger = { info() {}, warn() {}, error() {}, debug() {} };
${body}`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout }));
  });
}

test('a SIGHUP while the process starts neither ends it nor is lost: one reload runs once the handlers are in place', async () => {
  const r = await runChild(`
const held = lc.holdHangups();
process.kill(process.pid, 'SIGHUP');
process.kill(process.pid, 'SIGHUP');
await new Promise((r) => setTimeout(r, 100)); // still starting
let reloads = 0;
lc.handleSignals({ close: async () => {}, reload: async () => { reloads++; } }, logger, held);
await new Promise((r) => setTimeout(r, 50));
console.log('alive, reloads=' + reloads);
process.exit(0);`);
  assert.equal(r.signal, null, 'not ended by the hangup');
  assert.equal(r.code, 0);
  assert.equal(r.stdout.trim(), 'alive, reloads=1');
});

test('a target that cannot reload ignores SIGHUP instead of ending', async () => {
  const r = await runChild(`
lc.handleSignals({ close: async () => {} }, logger, lc.holdHangups());
process.kill(process.pid, 'SIGHUP');
await new Promise((r) => setTimeout(r, 100));
console.log('alive');
process.exit(0);`);
  assert.equal(r.signal, null);
  assert.equal(r.stdout.trim(), 'alive');
});
