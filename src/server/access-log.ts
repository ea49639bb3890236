import { pino, type Logger } from 'pino';

/** One access-log line: what happened to a request, never its headers or credentials. */
export interface AccessLogEntry {
  readonly requestId: string;
  readonly method: string;
  /** Normalized path, already masked of token-like runs. */
  readonly path: string;
  /** Route name, or undefined when no route matched. */
  readonly route: string | undefined;
  readonly status: number;
  readonly durationMs: number;
  /** `ok`, `public`, `anonymous`, or an error code; '' when the request never reached authentication. */
  readonly auth: string;
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
    return (e) => logger.info({ ...e, route: e.route, auth: e.auth || undefined }, 'request');
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
      `,"requestId":${safeString(e.requestId)},"method":${safeString(e.method)},"path":${JSON.stringify(e.path)}${route}` +
      `,"status":${e.status},"durationMs":${e.durationMs}${e.auth ? `,"auth":${safeString(e.auth)}` : ''},"msg":"request"}\n`;
    stream.write(line);
  };
}

function safeString(value: string): string {
  return SAFE.test(value) ? `"${value}"` : JSON.stringify(value);
}
