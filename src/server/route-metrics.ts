import type { Counter, Histogram } from 'prom-client';
import type { GatewayMetrics } from '../admin/metrics.js';

type CounterChild = Counter.Internal;

/**
 * A route's metric children, resolved once: prom-client hashes the label set on
 * every `inc({ … })`, so the hot path keeps the children it needs instead.
 * Label values stay bounded: route names come from config, statuses and
 * outcomes from the error catalog.
 */
export class RouteMetrics {
  private readonly requests = new Map<number, CounterChild>();
  private readonly outcomes = new Map<string, CounterChild>();
  private readonly latency: Histogram.Internal<string>;

  constructor(
    private readonly metrics: GatewayMetrics,
    private readonly route: string,
  ) {
    this.latency = metrics.latency.labels(route);
  }

  request(status: number, seconds: number): void {
    let child = this.requests.get(status);
    if (!child) {
      child = this.metrics.requests.labels(this.route, String(status));
      this.requests.set(status, child);
    }
    child.inc();
    this.latency.observe(seconds);
  }

  /** `ok`, `anonymous`, `public`, or an error code. */
  authOutcome(outcome: string): void {
    let child = this.outcomes.get(outcome);
    if (!child) {
      child = this.metrics.authOutcomes.labels(this.route, outcome);
      this.outcomes.set(outcome, child);
    }
    child.inc();
  }

  upstreamError(kind: string): void {
    this.metrics.upstreamErrors.inc({ route: this.route, kind });
  }
}
