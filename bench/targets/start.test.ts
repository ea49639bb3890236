import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { baselineGatewayScript, describeBaseline } from './start.js';

test('--baseline: a folder without a compiled gateway is refused with how to build one; a build is named by its REVISION', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-baseline-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  assert.throws(() => describeBaseline(dir), /no compiled gateway there .*bench\/build-baseline\.sh REV/);

  mkdirSync(join(dir, 'bench/targets'), { recursive: true });
  mkdirSync(join(dir, 'src'));
  writeFileSync(join(dir, 'bench/targets/gateway.js'), '');
  assert.throws(() => baselineGatewayScript(dir), /no compiled gateway/, 'the child script alone is not enough');
  writeFileSync(join(dir, 'src/gateway.js'), '');
  assert.equal(baselineGatewayScript(dir).pathname, join(dir, 'bench/targets/gateway.js'));
  assert.equal(describeBaseline(dir), `${dir} (revision unknown)`);
  writeFileSync(join(dir, 'REVISION'), 'f182f51 e2e: a message\n');
  assert.equal(describeBaseline(dir), `${dir} (f182f51 e2e: a message)`);
});
