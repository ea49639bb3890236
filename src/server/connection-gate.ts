/** A request the gate admits now or later, or turns away when its wait runs out. */
export interface GatedRequest {
  /** Admitted: send it (it then holds one of the origin's connections until {@link ConnectionGate.leave}). */
  send(): void;
  /** No connection came free within its wait: it is never sent. */
  waitTimedOut(): void;
  /** The wait's timer, kept on the request itself so that waiting allocates nothing more. */
  waitTimer: NodeJS.Timeout | undefined;
}

/**
 * Requests in flight to one origin, at most as many as its pool has
 * connections; the rest wait here, in arrival order, each at most its route's
 * upstream timeout. undici's pool would queue them itself, but without a
 * deadline, and a request dropped from its queue is aborted only once a
 * connection reaches it, which destroys that connection: each timed-out
 * waiter would cost the origin a new handshake just as it recovers.
 */
export class ConnectionGate {
  private inFlight = 0;
  /** Insertion-ordered: the first is the longest waiting. */
  private readonly waiting = new Set<GatedRequest>();

  constructor(readonly max: number) {}

  get queued(): number {
    return this.waiting.size;
  }

  /** Sends `request` now when a connection is free, else when one frees within `waitMs`. */
  enter(request: GatedRequest, waitMs: number): void {
    if (this.inFlight < this.max) {
      this.inFlight++;
      request.send();
      return;
    }
    this.waiting.add(request);
    request.waitTimer = setTimeout(() => {
      if (this.waiting.delete(request)) request.waitTimedOut();
    }, waitMs);
  }

  /** A sent request has ended: its connection goes to the longest waiting request, if any. */
  leave(): void {
    // The common case first, without an iterator.
    if (this.waiting.size === 0) {
      this.inFlight--;
      return;
    }
    for (const next of this.waiting) {
      this.waiting.delete(next);
      clearTimeout(next.waitTimer);
      next.send(); // the connection passes on: inFlight stays
      return;
    }
    this.inFlight--;
  }

  /** A waiting request whose client left: it will not be sent. */
  cancel(request: GatedRequest): void {
    if (this.waiting.delete(request)) clearTimeout(request.waitTimer);
  }

  /** Shutdown: every waiting request is turned away now rather than at its deadline. */
  drop(): void {
    const all = [...this.waiting];
    this.waiting.clear();
    for (const request of all) {
      clearTimeout(request.waitTimer);
      request.waitTimedOut();
    }
  }
}
