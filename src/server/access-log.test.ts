import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { createLogger } from '../log.js';
import { captureLog as capture } from '../../test/helpers/log-capture.js';
import { createAccessLog, loggablePath, type AccessLogEntry } from './access-log.js';

const entry: AccessLogEntry = {
  requestId: 'abc-1',
  method: 'GET',
  path: '/a"b\\c/\u2028',
  route: 'orders "v2"',
  status: 200,
  durationMs: 1.234,
  auth: 'ok',
};

test('writes one JSON line per request in the shape pino writes', () => {
  const c = capture();
  const logger = createLogger('info', c.stream);
  createAccessLog(logger)(entry);
  logger.info({ requestId: 'abc-1', method: 'GET', path: entry.path, route: entry.route, status: 200, durationMs: 1.234, auth: 'ok' }, 'request');
  const [fast, viaPino] = c.lines();
  assert.ok(fast && viaPino);
  delete fast.time;
  delete viaPino.time;
  assert.deepEqual(fast, viaPino);
});

test('keeps the logger bindings and honours its level', () => {
  const c = capture();
  const logger = createLogger('info', c.stream).child({ component: 'gw' });
  const log = createAccessLog(logger);
  log({ ...entry, route: undefined, auth: '' });
  logger.level = 'warn';
  log(entry);
  const lines = c.lines();
  assert.equal(lines.length, 1);
  assert.equal(lines[0]?.component, 'gw');
  assert.equal('route' in (lines[0] ?? {}), false);
  assert.equal('auth' in (lines[0] ?? {}), false);
  assert.match(String(lines[0]?.time), /^\d{4}-\d\d-\d\dT/);
});

test('an unusual request id or method is escaped, not trusted', () => {
  const c = capture();
  createAccessLog(createLogger('info', c.stream))({ ...entry, requestId: 'x"y', method: 'GE T' });
  const [line] = c.lines();
  assert.equal(line?.requestId, 'x"y');
  assert.equal(line?.method, 'GE T');
});

test('destinations that need pino metadata go through pino', () => {
  const c = capture();
  const logger = pino({ level: 'info' }, pino.multistream([{ stream: c.stream }]));
  createAccessLog(logger)(entry);
  const [line] = c.lines();
  assert.equal(line?.msg, 'request');
  assert.equal(line?.path, entry.path);
});

test('an answer the listener gave (no request id, method or duration) is written in the shape pino writes, those fields left out', () => {
  const c = capture();
  const logger = createLogger('info', c.stream);
  createAccessLog(logger)({ path: '(unparsed)', route: undefined, status: 431, auth: '' });
  logger.info({ path: '(unparsed)', status: 431 }, 'request');
  const [fast, viaPino] = c.lines();
  assert.ok(fast && viaPino);
  delete fast.time;
  delete viaPino.time;
  assert.deepEqual(fast, viaPino);
  assert.deepEqual(Object.keys(fast), ['level', 'path', 'status', 'msg']);
});

test('loggablePath masks JWT-like runs and runs of 40 token characters or more, nothing shorter', () => {
  assert.equal(loggablePath(''), '(rejected)');
  assert.equal(loggablePath('/cb/eyJhbGciOiJIUzI1NiJ9.e30.sig'), '/cb/[redacted]');
  assert.equal(loggablePath(`/cb/${'a'.repeat(40)}`), '/cb/[redacted]');
  // What it does not catch, as the README says: shorter runs, UUIDs (hyphens split nothing, but 36 < 40).
  assert.equal(loggablePath(`/cb/${'a'.repeat(39)}`), `/cb/${'a'.repeat(39)}`);
  assert.equal(loggablePath('/cb/123e4567-e89b-12d3-a456-426614174000'), '/cb/123e4567-e89b-12d3-a456-426614174000');
});
