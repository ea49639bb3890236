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
});
