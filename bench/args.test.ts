import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defaultResultsName, parseBenchArgs } from './args.js';

test('results file: only a full run replaces latest.md; smoke, partial and profiled runs write partial-latest.md', () => {
  assert.equal(defaultResultsName(parseBenchArgs([])), 'latest.md');
  assert.equal(defaultResultsName(parseBenchArgs(['--duration', '5', '--rounds', '7'])), 'latest.md');
  assert.equal(defaultResultsName(parseBenchArgs(['--modes', 'a,c'])), 'partial-latest.md');
  assert.equal(defaultResultsName(parseBenchArgs(['--quick'])), 'partial-latest.md');
  assert.equal(defaultResultsName(parseBenchArgs(['--rounds', '3'])), 'partial-latest.md');
  assert.equal(defaultResultsName(parseBenchArgs(['--profile', '/tmp/p'])), 'partial-latest.md');
  assert.equal(defaultResultsName(parseBenchArgs(['--baseline', '.build/base-x', '--modes', 'a'])), 'ab-latest.md');
  // Settings that change what is measured, or measure less of it, are not the build's result either.
  for (const changed of [
    ['--duration', '1'], ['--connections', '10'], ['--no-pin'], ['--autocannon'], ['--fresh-tokens', '5000'],
    ['--token-cache', '100'], ['--gateway-log', 'info'], ['--as-duration', '1'],
  ]) {
    assert.equal(defaultResultsName(parseBenchArgs(changed)), 'partial-latest.md', changed.join(' '));
  }
  // A machine without wrk (autocannon instead) or without taskset (no pinning) does not make the build's result either.
  assert.equal(defaultResultsName(parseBenchArgs([]), { wrk: false, pinned: true }), 'partial-latest.md');
  assert.equal(defaultResultsName(parseBenchArgs([]), { wrk: true, pinned: false }), 'partial-latest.md');
});
