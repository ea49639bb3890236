import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildRateModes } from '../auth-rates.js';
import { buildModes, selectModes } from '../modes.js';
import { bareHeadroom, checks, median, ratioOfMedians, roundCpuDiffs, roundRatios, verdict, type ModeResult, type Sample } from './stats.js';

const sample = (round: number, rps: number, cpuUsPerReq = 100, more: Partial<Sample> = {}): Sample => ({
  round, rps, cpuUsPerReq, p50Ms: 1, p99Ms: 2, requests: rps, errorStatuses: 0, socketErrors: 0, foreignCpuShare: undefined, loadCoreBusyShare: undefined, serverCoreShare: 0.99,
  ...more,
});

const modes = buildModes({ freshTokens: 25_000, tokenCacheEntries: 10_000 });

test('median of odd and even counts, NaN when empty', () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.ok(Number.isNaN(median([])));
});

test('ratios are of medians, per-round ratios pair samples by round', () => {
  const result: ModeResult = {
    mode: modes[0]!,
    targets: [
      { target: 'bare', samples: [sample(0, 100), sample(1, 200), sample(2, 300)] },
      { target: 'gateway', samples: [sample(0, 95), sample(1, 150), sample(2, 290)] },
    ],
    problems: [],
  };
  assert.equal(ratioOfMedians(result, 'gateway', 'bare'), 150 / 200);
  assert.deepEqual(roundRatios(result, 'gateway', 'bare'), [0.95, 0.75, 290 / 300]);
  // Paired by round, the median differs from the ratio of medians.
  assert.equal(checks(result)[0]?.pairedValue, 0.95);
});

test('checks: PASS, MISS, n/a for a failed peer, none for an unsupported one', () => {
  const result: ModeResult = {
    mode: modes[0]!, // (a): ≥ 0.90 of bare, ≥ 2× each peer
    targets: [
      { target: 'bare', samples: [sample(0, 1000, 80)] },
      { target: 'gateway', samples: [sample(0, 950, 84)] },
      { target: 'express', samples: [sample(0, 500, 200)] },
      { target: 'fastify', failed: 'probe answered 401', samples: [] },
    ],
    problems: [],
  };
  const byLabel = Object.fromEntries(checks(result).map((c) => [c.label.split(' ≥')[0], c]));
  assert.equal(byLabel['gateway ÷ bare proxy']?.pass, true);
  assert.equal(byLabel['gateway ÷ bare proxy']?.cpuValue, 80 / 84);
  assert.equal(byLabel['gateway ÷ bare proxy']?.pairedValue, 0.95);
  assert.equal(byLabel['gateway ÷ express']?.pass, false);
  assert.equal(byLabel['gateway ÷ fastify']?.pass, undefined);

  const unsupported: ModeResult = { ...result, targets: [...result.targets.slice(0, 3), { target: 'fastify', unsupported: 'no EdDSA', samples: [] }] };
  assert.equal(checks(unsupported).length, 2);
});

test('the verify floor: a target only in modes where every request needs a signature check, shown beside the bare-proxy check', () => {
  assert.deepEqual(modes.filter((m) => m.floorKeyFile !== undefined).map((m) => m.id), ['c', 'e-distinct']);
  const c = modes.find((m) => m.id === 'c')!;
  const result: ModeResult = {
    mode: c,
    targets: [
      { target: 'bare', samples: [sample(0, 1000)] },
      { target: 'floor', samples: [sample(0, 550)] },
      { target: 'gateway', samples: [sample(0, 500)] },
    ],
    problems: [],
  };
  const [vsBare] = checks(result);
  assert.equal(vsBare?.value, 0.5);
  assert.equal(vsBare?.floorValue, 0.55);
  assert.equal(vsBare?.pass, false);
  // Without a floor target the check carries none.
  assert.equal(checks({ ...result, targets: result.targets.filter((t) => t.target !== 'floor') })[0]?.floorValue, undefined);
});

test('a check counts the rounds whose own ratio meets the line, beside the verdict on the ratio of medians', () => {
  const result: ModeResult = {
    mode: modes[0]!, // (a): ≥ 0.90
    targets: [
      { target: 'bare', samples: [0, 1, 2, 3, 4].map((r) => sample(r, 1000)) },
      { target: 'gateway', samples: [950, 850, 910, 800, 905].map((rps, r) => sample(r, rps)) },
    ],
    problems: [],
  };
  const [vsBare] = checks(result);
  assert.equal(vsBare?.pass, true); // median 905 ÷ 1000
  assert.equal(vsBare?.roundsMet, 3);
  assert.equal(vsBare?.roundsPaired, 5);
});

test('a check is void when a side answered more than 0.1% of requests with another status than its mode expects', () => {
  const a = modes[0]!; // expects 200
  const wrongGateway: ModeResult = {
    mode: a,
    targets: [
      { target: 'bare', samples: [sample(0, 10_000)] },
      { target: 'gateway', samples: [sample(0, 10_000, 100, { errorStatuses: 20 })] },
    ],
    problems: [],
  };
  const [voided] = checks(wrongGateway);
  assert.equal(voided?.pass, undefined);
  assert.equal(verdict(voided!), 'VOID');
  assert.match(voided?.void ?? '', /gateway: 0\.2% of responses/);
  // 0.1% or less is within what the check tolerates.
  assert.equal(checks({ ...wrongGateway, targets: [wrongGateway.targets[0]!, { target: 'gateway', samples: [sample(0, 10_000, 100, { errorStatuses: 10 })] }] })[0]?.pass, true);

  // A 401 mode: the gateway must refuse everything, and the bare proxy (which checks nothing) must answer 200.
  const e = modes.find((m) => m.id === 'e-repeat')!;
  const refused = (errors: number): ModeResult => ({
    mode: e,
    targets: [
      { target: 'bare', samples: [sample(0, 10_000)] },
      { target: 'gateway', samples: [sample(0, 20_000, 100, { requests: 20_000, errorStatuses: errors })] },
    ],
    problems: [],
  });
  assert.equal(verdict(checks(refused(20_000))[0]!), 'PASS');
  assert.equal(verdict(checks(refused(19_000))[0]!), 'VOID'); // 1,000 answered below 400: let through
});

test('the bare proxy\'s headroom: reported when it used less than 95% of its core', () => {
  const result = (share: number): ModeResult => ({
    mode: modes[0]!,
    targets: [{ target: 'bare', samples: [sample(0, 1000, 30, { serverCoreShare: share }), sample(1, 1000, 30, { serverCoreShare: share + 0.02 })] }],
    problems: [],
  });
  assert.equal(bareHeadroom(result(0.97)), undefined);
  assert.equal(bareHeadroom(result(0.88)), 0.89);
});

test('modes are selected by id or by group, in run order; an unknown name is refused', () => {
  assert.deepEqual(selectModes(modes, ['e', 'd']).map((m) => m.id), ['d-es256', 'd-eddsa', 'e-repeat', 'e-distinct']);
  assert.deepEqual(selectModes(modes, ['a', 'e-repeat']).map((m) => m.id), ['a', 'e-repeat']);
  assert.deepEqual(selectModes(modes, undefined).map((m) => m.id), ['a', 'b', 'c', 'd-es256', 'd-eddsa', 'e-repeat', 'e-distinct', 's-memory', 's-redis', 's-stateless', 'o-opaque']);
  assert.deepEqual(selectModes(modes, ['o']).map((m) => m.id), ['o-opaque']);
  assert.deepEqual(selectModes(modes, ['s']).map((m) => m.id), ['s-memory', 's-redis', 's-stateless']);
  assert.throws(() => selectModes(modes, ['z']), /unknown mode "z"/);
});

test('one --modes list selects gateway modes and authorization-service rates together', () => {
  const all = [...modes, ...buildRateModes()];
  assert.deepEqual(selectModes(all, ['as']).map((m) => m.id), ['as-issue-jwt', 'as-issue-opaque', 'as-introspect']);
  assert.deepEqual(selectModes(all, ['as-introspect', 'o-opaque']).map((m) => m.id), ['o-opaque', 'as-introspect']);
  assert.ok(selectModes(all, undefined).some((m) => m.id === 'as-issue-opaque'), 'the rates are in the default run');
  assert.throws(() => selectModes(all, ['as-nothing']), /unknown mode "as-nothing"/);
});

test('per-round CPU differences pair samples by round and skip rounds measured for one side only', () => {
  const result: ModeResult = {
    mode: modes[0]!,
    targets: [
      { target: 'gateway', samples: [sample(0, 100, 70), sample(1, 100, 60), sample(2, 100, 65)] },
      { target: 'baseline', samples: [sample(2, 100, 66), sample(0, 100, 75)] },
    ],
    problems: [],
  };
  assert.deepEqual(roundCpuDiffs(result, 'gateway', 'baseline'), [-5, -1]);
  assert.deepEqual(roundCpuDiffs(result, 'gateway', 'bare'), []);
});
