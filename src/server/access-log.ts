import { pino, type Logger } from 'pino';
import { redactTokenLike } from '../log.js';

/**
 * One access-log line: what happened to a request, never its headers or credentials.
 * Answers the listener gives before the request handler (a request Node could not parse,
 * a refused `Expect`, CONNECT, the HTTPS redirect listener) have no request id or
 * duration, and no method when the request line was not parsed.
 */
export interface AccessLogEntry {
  readonly requestId?: string;
  readonly method?: string;
  /** Normalized path, already masked of token-like runs (see {@link loggablePath}), or a placeholder in parentheses. */
  readonly path: string;
  /** Route name, or undefined when no route matched. */
  readonly route: string | undefined;
  readonly status: number;
  readonly durationMs?: number;
  /** `ok`, `public`, `anonymous`, or an error code; '' when the request never reached authentication. */
  readonly auth: string;
}

/**
 * A path as it may be logged: one can carry a token (`/callback/eyJ…`), so JWT-like runs
 * and runs of 40 or more token characters are masked (see redactTokenLike); a shorter
 * path cannot hold such a run. '' (the path was refused before it was read) is `(rejected)`.
 */
export function loggablePath(path: string): string {
  if (path === '') return '(rejected)';
  return path.length < 40 && !path.includes('eyJ') ? path : redactTokenLike(path);
}

export type AccessLog = (entry: AccessLogEntry) => void;

type PinoInternals = Logger & {
  [pino.symbols.streamSym]?: { write(line: string): void; [k: symbol]: unknown };
  [pino.symbols.chindingsSym]?: string;
};

// Every field is ours and either drawn from a safe alphabet (request ids, methods,
// codes) or escaped with JSON.stringify (path, route name).
const SAFE = /^[A-Za-z0-9._:@-]*$/;

/**
 * The per-request log line. pino's generic serializer (and its redaction walk)
 * costs several microseconds per line, a real share of a proxied request, so the
 * line is written straight to the logger's destination in the shape pino itself
 * writes (`level` label, ISO `time`, the logger's bindings, `msg: "request"`).
 * Destinations that need pino's metadata (multistream) go through pino instead.
 */
export function createAccessLog(logger: Logger): AccessLog {
  const internals = logger as PinoInternals;
  const stream = internals[pino.symbols.streamSym];
  const needsMetadata = stream !== undefined && stream[pino.symbols.needsMetadataGsym] === true;
  if (stream === undefined || needsMetadata) {
    return (e) => logger.info({ ...e, auth: e.auth || undefined }, 'request');
  }
  const routeJson = new Map<string, string>();
  return (e) => {
    if (!logger.isLevelEnabled('info')) return;
    let route = '';
    if (e.route !== undefined) {
      route = routeJson.get(e.route) ?? '';
      if (route === '') {
        route = `,"route":${JSON.stringify(e.route)}`;
        routeJson.set(e.route, route);
      }
    }
    const line =
      `{"level":"info","time":"${new Date().toISOString()}"${internals[pino.symbols.chindingsSym] ?? ''}` +
      (e.requestId === undefined ? '' : `,"requestId":${safeString(e.requestId)}`) +
      (e.method === undefined ? '' : `,"method":${safeString(e.method)}`) +
      `,"path":${JSON.stringify(e.path)}${route},"status":${e.status}` +
      (e.durationMs === undefined ? '' : `,"durationMs":${e.durationMs}`) +
      `${e.auth ? `,"auth":${safeString(e.auth)}` : ''},"msg":"request"}\n`;
    stream.write(line);
  };
}

function safeString(value: string): string {
  return SAFE.test(value) ? `"${value}"` : JSON.stringify(value);
}
