import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger };

/**
 * Field names whose values are credentials wherever they appear. pino matches names
 * exactly: the header names come in the two spellings Node and HTTP clients use
 * (lower case in `headers` objects, capitalised as written by hand).
 */
const SECRET_FIELDS = [
  'authorization', 'cookie', 'proxy-authorization', 'set-cookie',
  'Authorization', 'Cookie', 'Proxy-Authorization', 'Set-Cookie',
  'token', 'accessToken', 'refreshToken', 'idToken', 'access_token', 'refresh_token', 'id_token',
  'password', 'client_secret', 'clientSecret', 'secret',
];

/**
 * Paths pino blanks out wherever a request, response or error is logged: each
 * credential field at the top level and up to three levels down (req.headers.cookie,
 * err.request.headers.authorization …). Token values must never reach a log line.
 * Not covered: values in arrays (`rawHeaders`), deeper fields, other spellings.
 */
export const REDACT_PATHS = SECRET_FIELDS.flatMap((f) => {
  const isIdentifier = /^[A-Za-z_]\w*$/.test(f);
  const key = isIdentifier ? (prefix: string) => `${prefix}.${f}` : (prefix: string) => `${prefix}["${f}"]`;
  return [isIdentifier ? f : `["${f}"]`, key('*'), key('*.*'), key('*.*.*')];
});

/**
 * pino's error serializer, with token-like runs masked in the message and stack, which
 * carry the messages of the error's causes too: a library's error may quote what it was
 * given (a URL with a token in it, a header value).
 */
function serializeError(err: Error): ReturnType<typeof pino.stdSerializers.err> {
  const s = pino.stdSerializers.err(err);
  if (typeof s.message === 'string') s.message = redactTokenLike(s.message);
  if (typeof s.stack === 'string') s.stack = redactTokenLike(s.stack);
  return s;
}

// One character class, no boundary assertions: each maximal run is matched once, so the
// work is linear in the text. (Two unbounded runs followed by `\b` backtracked quadratically:
// an 8 KB path of `-` held the event loop for 100 ms.)
const TOKEN_RUN = /[A-Za-z0-9_.-]+/g;
const JWT_START = /eyJ[A-Za-z0-9_-]{5}/;
const LONG_RUN = /[A-Za-z0-9_-]{40}/;

/**
 * Masks JWT-looking and long opaque-token-looking runs in free text (messages,
 * URLs): a run of token characters (dots included) that holds `eyJ` and five
 * more, or 40 characters without a dot, becomes `[redacted]`.
 */
export function redactTokenLike(text: string): string {
  return text.replace(TOKEN_RUN, (run) => (run.length >= 8 && (JWT_START.test(run) || LONG_RUN.test(run)) ? '[redacted]' : run));
}

export function createLogger(level: LoggerOptions['level'] = 'info', destination?: pino.DestinationStream): Logger {
  const opts: LoggerOptions = {
    level,
    base: undefined,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    serializers: { err: serializeError },
    formatters: { level: (label) => ({ level: label }) },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  // Written synchronously: pino's default (asynchronous) stdout flushes at exit, and its flush
  // retries a write to a reader that went away (EPIPE) for ever, so a gateway whose log pipe broke
  // could not exit on SIGTERM. In sync mode nothing waits to be flushed, and a broken pipe only
  // ends logging. The cost: a log reader that stops reading holds the process up, as for console.log.
  return pino(opts, destination ?? pino.destination({ dest: 1, sync: true }));
}

/**
 * A gate for log lines about failures that can repeat on every request or scrape:
 * true when a line with this key may be written now, at most once per `intervalMs`
 * per key. Remembers at most `maxKeys` keys (the oldest is forgotten first), so
 * distinct failures without end cannot grow it.
 */
export function createLogThrottle(intervalMs: number, now: () => number = Date.now, maxKeys = 64): (key: string) => boolean {
  const lastAt = new Map<string, number>();
  return (key) => {
    const t = now();
    const at = lastAt.get(key);
    if (at !== undefined && t - at < intervalMs) return false;
    lastAt.delete(key);
    if (lastAt.size >= maxKeys) lastAt.delete(lastAt.keys().next().value as string);
    lastAt.set(key, t);
    return true;
  };
}
