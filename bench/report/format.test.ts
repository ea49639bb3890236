import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildModes } from '../modes.js';
import { baselineLine, cacheLine, noiseLine, rateRows, rateSection, ratioText } from './format.js';
import type { Check, ModeResult, RateResult, Sample } from './stats.js';

const sample = (round: number, rps: number, cpuUsPerReq: number, p99Ms = 20): Sample => ({
  round, rps, cpuUsPerReq, p50Ms: 5, p99Ms, requests: rps * 2, errorStatuses: 0, socketErrors: 0, foreignCpuShare: 0.04, loadCoreBusyShare: 0.5, serverCoreShare: 0.99,
});

const rates: RateResult[] = [
  { id: 'as-issue-jwt', title: 'client-credentials token issuance, JWT resource', notes: ['signed each time'], samples: [sample(0, 1000, 300), sample(1, 1200, 280), sample(2, 900, 310, 40)], problems: [] },
  { id: 'as-introspect', title: 'token introspection of opaque tokens', notes: [], samples: [], failed: 'probe: introspection answered 401', problems: ['round 1: 3 of 10 responses were not 200'] },
];

test('rate rows: medians, every round in order, shares as percentages; a failed mode says so', () => {
  const [head, jwt, failed] = rateRows(rates);
  assert.deepEqual(head, ['mode', 'req/s', 'req/s per round', 'CPU µs/req', 'p50 ms', 'p99 ms', 'other load on server core', 'load core busy']);
  assert.deepEqual(jwt, ['as-issue-jwt: client-credentials token issuance, JWT resource', '1,000', '1,000 / 1,200 / 900', '300', '5.00', '20.00', '4%', '50%']);
  assert.equal(failed?.[1], 'failed');
});

test('rate section: table, notes, failures and problems; nothing when no rate mode ran', () => {
  const text = rateSection(rates, { connections: 16, durationS: 2, rounds: 3 }).join('\n');
  assert.match(text, /^## Authorization service/);
  assert.match(text, /3 round\(s\) × 2 s, 16 connections/);
  assert.match(text, /\| as-issue-jwt: client-credentials token issuance, JWT resource \| 1,000 \|/);
  assert.match(text, /- as-issue-jwt: signed each time/);
  assert.match(text, /- as-introspect failed: probe: introspection answered 401/);
  assert.match(text, /\*\*Problem:\*\* as-introspect, round 1: 3 of 10/);
  assert.deepEqual(rateSection([], { connections: 16, durationS: 2, rounds: 3 }), []);
});

test('cache line names the cache the mode counts', () => {
  const modes = buildModes({ freshTokens: 25_000, tokenCacheEntries: 10_000 });
  const opaque = modes.find((m) => m.id === 'o-opaque')!;
  const a = modes.find((m) => m.id === 'a')!;
  const result = (mode: typeof a): ModeResult => ({ mode, targets: [], problems: [], gatewayCache: { hit: 999, miss: 1 } });
  assert.equal(cacheLine(result(opaque)), 'gateway introspection cache during the measured rounds: 999 hits, 1 misses (99.9% hits)');
  assert.match(cacheLine(result(a)) ?? '', /^gateway token cache during/);
  assert.equal(cacheLine({ mode: a, targets: [], problems: [] }), undefined);
  assert.doesNotMatch(cacheLine(result(a)) ?? '', /raise --fresh-tokens/, 'hits are the point of mode a');
});

test('cache line warns when a never-seen-token mode hit the cache', () => {
  const modes = buildModes({ freshTokens: 25_000, tokenCacheEntries: 10_000 });
  const c = modes.find((m) => m.id === 'c')!;
  const line = (hit: number, miss: number) => cacheLine({ mode: c, targets: [], problems: [], gatewayCache: { hit, miss } }) ?? '';
  assert.match(line(8_811, 78_420), /10\.1% hits\); \*\*tokens came back .*raise --fresh-tokens\*\*$/);
  assert.doesNotMatch(line(10, 78_420), /raise/);
});

test('noise warning names each target measured while other work held the server core', () => {
  const busy = (share: number): Sample => ({ ...sample(0, 1000, 50), foreignCpuShare: share });
  assert.equal(noiseLine([{ name: 'bare', samples: [busy(0.05)] }, { name: 'gateway', samples: [busy(0.2)] }]), undefined);
  const line = noiseLine([
    { name: 'bare', samples: [busy(0.9), busy(0.1), busy(0.5)] },
    { name: 'gateway', samples: [busy(0.05)] },
    { name: 'unpinned', samples: [{ ...busy(0), foreignCpuShare: undefined }] },
  ]);
  assert.equal(line?.startsWith('noisy: other load took 50% of the server core while bare ran;'), true);
  assert.doesNotMatch(line ?? '', /gateway|unpinned/);
});

test('baseline line: per-round CPU difference of this build against the baseline build, paired by round; absent without a baseline', () => {
  const a = buildModes({ freshTokens: 25_000, tokenCacheEntries: 10_000 }).find((m) => m.id === 'a')!;
  const result: ModeResult = {
    mode: a,
    targets: [
      { target: 'bare', samples: [sample(0, 1000, 60)] },
      { target: 'gateway', samples: [sample(0, 900, 70), sample(1, 1000, 66), sample(2, 950, 72)] },
      // Round 2 is missing for the baseline: only rounds measured for both are paired.
      { target: 'baseline', samples: [sample(0, 850, 73.5), sample(1, 1000, 65), sample(3, 100, 500)] },
    ],
    problems: [],
  };
  assert.equal(
    baselineLine(result),
    'this build vs the baseline build, CPU µs per request by round: −3.5 / +1.0 (median −1.3; cheaper in 1 of 2 rounds); req/s ratio of medians 1.12×',
  );
  assert.equal(baselineLine({ ...result, targets: result.targets.slice(0, 2) }), undefined);
});

test('a judged ratio shows a third decimal only where two would read as meeting a line it misses', () => {
  const check = (value: number, min: number): Check => ({ label: 'x', value, cpuValue: undefined, pairedValue: undefined, roundsMet: 0, roundsPaired: 0, min, pass: value >= min });
  assert.equal(ratioText(check(0.8966, 0.9)), '0.896');
  assert.equal(ratioText(check(0.9004, 0.9)), '0.90');
  assert.equal(ratioText(check(0.8849, 0.9)), '0.88');
  assert.equal(ratioText(check(0.996, 1.0)), '0.996');
  assert.equal(ratioText(check(0.89996, 0.9)), '0.899');
  assert.equal(ratioText(check(0.99971, 1.0)), '0.999');
});
