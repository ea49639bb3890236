/** The longest delay Node's timers take: 2^31 − 1 ms, about 24.8 days. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * A configured delay as a timer can take it. Node runs a timer whose delay is
 * over MAX_TIMER_MS after 1 ms instead (with a TimeoutOverflowWarning): a JWKS
 * cache age of 40 days refetched the key set in a tight loop, and a drain
 * timeout of a month cut in-flight requests at once. Longer delays wait the
 * longest a timer can; non-finite or negative ones wait nothing.
 */
export function timerDelay(ms: number): number {
  if (!(ms > 0)) return 0;
  return Math.min(ms, MAX_TIMER_MS);
}

/**
 * Waits for `promise` (one that never rejects: a drain, keys loading) at most
 * `ms`, then goes on either way; the timer never outlives the wait.
 */
export async function settleWithin(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, timerDelay(ms));
  });
  try {
    await Promise.race([promise, timedOut]);
  } finally {
    clearTimeout(timer);
  }
}
