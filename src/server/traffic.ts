/**
 * Counts the requests running under one configuration. A reload retires the
 * configuration it replaces and closes what only that one uses, its upstream
 * pools and key sources, once its last request has ended; shutdown drains the
 * requests of every configuration still running some.
 */
export class Traffic {
  private count = 0;
  private waiters: (() => void)[] = [];

  get running(): number {
    return this.count;
  }

  started(): void {
    this.count++;
  }

  ended(): void {
    this.count--;
    if (this.count === 0 && this.waiters.length > 0) for (const wake of this.waiters.splice(0)) wake();
  }

  /** Resolves once no request runs: at once when none does. */
  idle(): Promise<void> {
    if (this.count === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }
}
