import { Writable } from 'node:stream';

/** A stream to hand a logger, and the JSON lines written to it so far. */
export interface CapturedLog {
  readonly stream: Writable;
  lines(): Record<string, unknown>[];
}

/** Collects what a pino logger writes, for tests that read the log lines back. */
export function captureLog(): CapturedLog {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk.toString('utf8'));
      cb();
    },
  });
  return {
    stream,
    lines: () =>
      chunks
        .join('')
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}
