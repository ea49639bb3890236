import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { createLogger } from '../log.js';
import { captureLog as capture } from '../../test/helpers/log-capture.js';
import { createAccessLog, type AccessLogEntry } from './access-log.js';

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
