import { z } from 'zod';

// The docs generator recognizes a duration by this validation pattern.
const DURATION_SYNTAX = /^\d+(\.\d+)?\s*(ms|s|m|h|d)$/;
const DURATION = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)$/;
const UNIT_SECONDS = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400 } as const;

/**
 * A duration in the config: a number of seconds, or a string such as `250ms`,
 * `30s`, `5m`, `2h`, `7d`. Its own module so every config section (gateway,
 * sessions, authorization service) shares the one grammar without import cycles.
 */
export function durationSeconds() {
  return z
    .union([z.number().nonnegative(), z.string().regex(DURATION_SYNTAX, 'a duration such as 30s, 5m, 2h')])
    .transform((v) => (typeof v === 'number' ? v : parseDurationSeconds(v)));
}

export function parseDurationSeconds(text: string): number {
  const m = DURATION.exec(text.trim());
  if (!m) throw new Error(`not a duration: ${text}`);
  return Number(m[1]) * UNIT_SECONDS[m[2] as keyof typeof UNIT_SECONDS];
}
