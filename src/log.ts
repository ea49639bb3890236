import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger };

/** Field names whose values are credentials wherever they appear. */
const SECRET_FIELDS = [
  'authorization', 'cookie', 'proxy-authorization', 'set-cookie',
  'token', 'accessToken', 'refreshToken', 'idToken', 'access_token', 'refresh_token', 'id_token',
  'password', 'client_secret', 'clientSecret', 'secret',
];

/**
 * Paths pino blanks out wherever a request, response or error is logged: each
 * credential field at the top level and up to three levels down (req.headers.cookie,
 * err.request.headers.authorization …). Token values must never reach a log line.
 */
export const REDACT_PATHS = SECRET_FIELDS.flatMap((f) => {
  const key = /^[A-Za-z_]\w*$/.test(f) ? (prefix: string) => `${prefix}.${f}` : (prefix: string) => `${prefix}["${f}"]`;
  return [...(f.includes('-') ? [] : [f]), key('*'), key('*.*'), key('*.*.*')];
});

const TOKEN_LIKE = /\b(eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*\.?[A-Za-z0-9_-]*|[A-Za-z0-9_-]{40,})\b/g;

/** Masks JWT-looking and long opaque-token-looking substrings in free text (messages, URLs). */
export function redactTokenLike(text: string): string {
  return text.replace(TOKEN_LIKE, '[redacted]');
}

export function createLogger(level: LoggerOptions['level'] = 'info', destination?: pino.DestinationStream): Logger {
  const opts: LoggerOptions = {
    level,
    base: undefined,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    formatters: { level: (label) => ({ level: label }) },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return destination ? pino(opts, destination) : pino(opts);
}
