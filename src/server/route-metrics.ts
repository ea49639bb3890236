import type { GatewayMetrics, HistogramSeries, RouteTally } from '../admin/metrics.js';

/**
 * A route's metrics on the request path: plain counters and a histogram series
 * resolved once (see {@link GatewayMetrics.routeTally}), folded into the
 * Prometheus metrics when they are scraped. Label values stay bounded: route
 * names come from config, statuses and outcomes from the error catalog.
 */
export class RouteMetrics {
  private readonly statuses: Map<number, number>;
  private readonly outcomes: Map<string, number>;
  private readonly latency: HistogramSeries;

  constructor(
    private readonly metrics: GatewayMetrics,
    private readonly route: string,
  ) {
    const tally: RouteTally = metrics.routeTally(route);
    this.statuses = tally.statuses;
    this.outcomes = tally.outcomes;
    this.latency = tally.latency;
  }

  request(status: number, seconds: number): void {
    this.statuses.set(status, (this.statuses.get(status) ?? 0) + 1);
    this.latency.observe(seconds);
  }

  /**
   * An answer the listener gave before the request handler (a parser error, a refused
   * `Expect`, CONNECT, the redirect listener): counted by status, without a duration,
   * as none is known for a request that was never read whole.
   */
  answeredByListener(status: number): void {
    this.statuses.set(status, (this.statuses.get(status) ?? 0) + 1);
  }

  /** `ok`, `anonymous`, or an error code. A public route (`auth: none` alone) counts none: it authenticates nothing. */
  authOutcome(outcome: string): void {
    this.outcomes.set(outcome, (this.outcomes.get(outcome) ?? 0) + 1);
  }

  upstreamError(kind: string): void {
    this.metrics.upstreamErrors.inc({ route: this.route, kind });
  }
}
