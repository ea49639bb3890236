/** Why a slot was not granted. */
export class SlotRefused extends Error {
  constructor(readonly reason: 'overloaded' | 'timeout') {
    super(reason === 'overloaded' ? 'too many introspection requests in flight' : 'timed out waiting for an introspection slot');
    this.name = 'SlotRefused';
  }
}

/** Bounds the requests in flight; a few more wait, the rest are refused at once. */
export interface ConcurrencyLimit {
  /**
   * Resolves to the release function once a slot is free. Rejects with
   * SlotRefused('overloaded') at once when the queue is full, or
   * SlotRefused('timeout') when `signal` aborts while waiting.
   */
  acquire(signal: AbortSignal): Promise<() => void>;
  readonly inFlight: number;
  readonly queued: number;
}

/**
 * A counting semaphore with a short FIFO queue. Waiting in an unbounded queue
 * (undici's, behind its connections) would make every caller wait out a flood
 * of lookups for tokens nobody was issued; a full queue fails fast instead.
 */
export function createConcurrencyLimit(maxInFlight: number, maxQueued: number): ConcurrencyLimit {
  let inFlight = 0;
  const waiting: (() => void)[] = [];

  const release = (): void => {
    const next = waiting.shift();
    // The slot passes straight to the next waiter: inFlight stays as it is.
    if (next) next();
    else inFlight--;
  };
  const once = (): (() => void) => {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      release();
    };
  };

  return {
    acquire(signal) {
      if (signal.aborted) return Promise.reject(new SlotRefused('timeout'));
      if (inFlight < maxInFlight) {
        inFlight++;
        return Promise.resolve(once());
      }
      if (waiting.length >= maxQueued) return Promise.reject(new SlotRefused('overloaded'));
      return new Promise((resolve, reject) => {
        const grant = (): void => {
          signal.removeEventListener('abort', onAbort);
          resolve(once());
        };
        const onAbort = (): void => {
          const i = waiting.indexOf(grant);
          if (i >= 0) waiting.splice(i, 1);
          reject(new SlotRefused('timeout'));
        };
        waiting.push(grant);
        signal.addEventListener('abort', onAbort, { once: true });
      });
    },
    get inFlight() {
      return inFlight;
    },
    get queued() {
      return waiting.length;
    },
  };
}
