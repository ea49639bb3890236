import assert from 'node:assert/strict';
import { test } from 'node:test';
import { normalizeParamName, queryParamTest } from './query-param-name.js';

test('a name is decoded and folded as an upstream reads it', () => {
  const cases: [string, string][] = [
    ['_method', '_method'],
    ['_%6Dethod', '_method'],
    ['%5F%6D%65thod', '_method'],
    ['.method', '_method'],
    ['%20_method', '_method'],
    ['+_method', '_method'],
    ['++.method', '_method'],
    // PHP drops a name that starts with `[` rather than read it as `_method`; refused all the same (a refusal errs towards more names).
    ['[method', '_method'],
    ['_method[]', '_method'],
    ['_method%5B0%5D', '_method'],
    ['_method%00junk', '_method'],
    ['_METHOD', '_method'],
    ['access.token', 'access_token'],
    ['access[token', 'access_token'],
    ['access..token', 'access__token'],
    ['_%6Dethod%ZZ', '_method%zz'], // an invalid escape stays as written
    ['x_%E9', 'x_\u00e9'],
  ];
  for (const [raw, name] of cases) assert.equal(normalizeParamName(raw), name, raw);
});

test('a compiled test finds the name in any spelling, and only as a name', () => {
  const has = queryParamTest('_method');
  for (const q of ['?_method=PUT', '?a=1&_method', '?a;_Method=x', '?file=a.txt&_%6Dethod=PUT', '?%20%20.method=PUT', '?_method%00=PUT']) assert.ok(has(q), q);
  for (const q of ['?my_method=1', '?a=_method', '?file=a.txt&x%5B0%5D=_method', '?_methods=1', '?__method=1', '?_%6Dethods=1', '?next=/a?_method=PUT']) assert.ok(!has(q), q);
  assert.ok(!queryParamTest('access_token')('?next=/cb?access_token=x'), 'a `?` inside a value starts no parameter');
});
