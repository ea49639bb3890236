import assert from 'node:assert/strict';
import { test } from 'node:test';
import { answersBetween, answersFromMetrics, cacheCountsFromMetrics } from './probe.js';

const METRICS = [
  '# HELP gatehouse_token_cache_total Verified-token cache lookups by result (hit, miss).',
  '# TYPE gatehouse_token_cache_total counter',
  'gatehouse_token_cache_total{cache="jwt",result="hit"} 10',
  'gatehouse_token_cache_total{cache="jwt",result="miss"} 2',
  'gatehouse_token_cache_total{cache="introspection",result="hit"} 3000',
  'gatehouse_token_cache_total{cache="introspection",result="miss"} 100',
  'gatehouse_requests_total{route="/api/orders",status="200"} 3100',
  '',
].join('\n');

test('cache counts: every cache summed, or only the named one', () => {
  assert.deepEqual(cacheCountsFromMetrics(METRICS), { hit: 3010, miss: 102 });
  assert.deepEqual(cacheCountsFromMetrics(METRICS, 'introspection'), { hit: 3000, miss: 100 });
  assert.deepEqual(cacheCountsFromMetrics(METRICS, 'jwt'), { hit: 10, miss: 2 });
});

test('cache counts: undefined when the series (or the named cache) is absent', () => {
  assert.equal(cacheCountsFromMetrics(METRICS, 'sessions'), undefined);
  assert.equal(cacheCountsFromMetrics('gatehouse_requests_total{route="/"} 1\n'), undefined);
  assert.equal(cacheCountsFromMetrics(''), undefined);
});

test('gateway answers: statuses and authentication outcomes summed over routes, and their change between two readings', () => {
  const before = answersFromMetrics([
    'gatehouse_requests_total{route="/api/orders",status="401"} 5',
    'gatehouse_auth_outcomes_total{route="/api/orders",outcome="GH_TOKEN_SIGNATURE_INVALID"} 5',
    '',
  ].join('\n'));
  const after = answersFromMetrics([
    '# TYPE gatehouse_requests_total counter',
    'gatehouse_requests_total{route="/api/orders",status="401"} 105',
    'gatehouse_requests_total{route="/",status="401"} 3',
    'gatehouse_requests_total{route="/api/orders",status="403"} 2',
    'gatehouse_auth_outcomes_total{route="/api/orders",outcome="GH_TOKEN_SIGNATURE_INVALID"} 105',
    'gatehouse_auth_outcomes_total{route="/api/orders",outcome="GH_TOKEN_MALFORMED"} 3',
    'gatehouse_token_cache_total{cache="jwt",result="hit"} 10',
    '',
  ].join('\n'));
  assert.deepEqual(after.statuses, { '401': 108, '403': 2 });
  assert.deepEqual(answersBetween(before, after), {
    statuses: { '401': 103, '403': 2 },
    outcomes: { GH_TOKEN_SIGNATURE_INVALID: 100, GH_TOKEN_MALFORMED: 3 },
  });
  assert.deepEqual(answersBetween(after, after), { statuses: {}, outcomes: {} });
});
