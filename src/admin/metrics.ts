import { Counter, Registry, collectDefaultMetrics, type Metric } from 'prom-client';

/**
 * The gateway's Prometheus metrics. One instance per gateway; label values are
 * bounded (route names from config, outcome codes from the error catalog).
 */
export class GatewayMetrics {
  readonly registry = new Registry();

  readonly requests = new Counter({
    name: 'gatehouse_requests_total',
    help: 'Requests by route and response status (499: the client left before the response was complete).',
    labelNames: ['route', 'status'] as const,
    registers: [this.registry],
    collect: () => this.foldTallies(),
  });

  readonly authOutcomes = new Counter({
    name: 'gatehouse_auth_outcomes_total',
    help: 'Authentication and authorization outcomes by route and reason (ok, anonymous, or an error code); public routes count none.',
    labelNames: ['route', 'outcome'] as const,
    registers: [this.registry],
    collect: () => this.foldTallies(),
  });

  readonly latency = new FastHistogram({
    name: 'gatehouse_request_duration_seconds',
    help: 'Time from the request\'s arrival until its response has been written or the connection closed (upstream time and body streaming included).',
    labelName: 'route',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registry: this.registry,
  });

  readonly jwksFetches = new Counter({
    name: 'gatehouse_jwks_fetches_total',
    help: 'JWKS fetches by issuer and result (ok, error).',
    labelNames: ['issuer', 'result'] as const,
    registers: [this.registry],
  });

  readonly introspectionRequests = new Counter({
    name: 'gatehouse_introspection_requests_total',
    help: 'Token introspections that needed the endpoint (cache misses; concurrent lookups of one token count once) by result: active, refused (an answer refusing the token), timeout, network, bad_status (neither 200 nor 401/403), client_rejected (401/403 to the gateway\'s client credentials), bad_response (not JSON, malformed, too large), overloaded (not sent: maxConcurrentRequests in flight and as many waiting), discovery_failed (not sent: the endpoint could not be discovered).',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  readonly tokenCache = new Counter({
    name: 'gatehouse_token_cache_total',
    help: 'Token cache lookups by cache (jwt, introspection) and result (hit: answered from the cache, a known bad signature included; miss).',
    labelNames: ['cache', 'result'] as const,
    registers: [this.registry],
    collect: () => this.foldCacheTallies(),
  });

  readonly upstreamErrors = new Counter({
    name: 'gatehouse_upstream_errors_total',
    help: 'Upstream failures by route and kind (connect, timeout, reset, body_too_large, bad_response).',
    labelNames: ['route', 'kind'] as const,
    registers: [this.registry],
  });

  readonly sessionRefreshes = new Counter({
    name: 'gatehouse_session_refreshes_total',
    help: 'Session token refreshes by outcome: refreshed (one provider call), adopted (another request or instance had just refreshed), refused (session ended), client_rejected (the provider refused the gateway\'s client: invalid_client, unauthorized_client), failed (provider or store unavailable), deferred (not asked: the session\'s refresh failed within the last 5 s and its access token is still valid).',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  readonly sessionLogins = new Counter({
    name: 'gatehouse_session_logins_total',
    help: 'Browser logins completed at /auth/callback by result (ok, failed).',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  readonly connectionsRejected = new Counter({
    name: 'gatehouse_connections_rejected_total',
    help: 'Connections closed at accept, unanswered, because limits.maxConnections were open (on the gateway listener or the HTTPS redirect listener).',
    registers: [this.registry],
  });

  readonly configReloads = new Counter({
    name: 'gatehouse_config_reloads_total',
    help: 'Configuration reloads (SIGHUP) by result: ok (applied), rejected (the running configuration serves on: a file with problems, a change that needs a restart, a key source that brought no keys).',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  private readonly tallies = new Map<string, RouteTally>();
  private readonly cacheTallies = new Map<string, CacheTally>();

  /** With `collectDefault` (the default), Node's process metrics are served too (see {@link processMetrics}). */
  constructor(opts: { collectDefault?: boolean } = {}) {
    if (opts.collectDefault ?? true) for (const metric of processMetrics()) this.registry.registerMetric(metric);
    // Both series from the start, so an alert on rejected reloads sees 0 rather than no series.
    for (const result of ['ok', 'rejected'] as const) this.configReloads.inc({ result }, 0);
  }

  /**
   * The request counters of one route, as plain numbers the request path bumps:
   * prom-client validates and hashes the label set on every `inc` and `observe`,
   * about a microsecond per request. They are folded into `requests` and
   * `authOutcomes` when those are read, so `/metrics` shows the same series.
   * One tally per route name, shared across reloads (as prom-client keeps every
   * label set it has seen, the route names bound this).
   */
  routeTally(route: string): RouteTally {
    let t = this.tallies.get(route);
    if (t === undefined) {
      t = { statuses: new Map(), outcomes: new Map(), latency: this.latency.labels(route) };
      this.tallies.set(route, t);
    }
    return t;
  }

  /**
   * Hit and miss counts of one token cache (`jwt`, `introspection`) as plain
   * numbers, for the same reason as {@link routeTally}: a lookup happens on every
   * request. Folded into `tokenCache` when it is read.
   */
  cacheTally(cache: string): CacheTally {
    let t = this.cacheTallies.get(cache);
    if (t === undefined) {
      t = { hit: 0, miss: 0 };
      this.cacheTallies.set(cache, t);
    }
    return t;
  }

  private foldCacheTallies(): void {
    for (const [cache, t] of this.cacheTallies) {
      if (t.hit > 0) this.tokenCache.inc({ cache, result: 'hit' }, t.hit);
      if (t.miss > 0) this.tokenCache.inc({ cache, result: 'miss' }, t.miss);
      t.hit = 0;
      t.miss = 0;
    }
  }

  /** Adds the tallies' counts since the last read to the prom-client counters (run before either is read). */
  private foldTallies(): void {
    for (const [route, t] of this.tallies) {
      foldInto(t.statuses, (status, n) => this.requests.inc({ route, status: String(status) }, n));
      foldInto(t.outcomes, (outcome, n) => this.authOutcomes.inc({ route, outcome }, n));
    }
  }
}

let processMetricSet: readonly Metric[] | undefined;

/**
 * Node's process metrics (CPU, memory, handles, event-loop lag, GC), created once per
 * process and served by every gateway's registry: collectDefaultMetrics starts an
 * event-loop-delay monitor and a GC observer that nothing can stop, so a set per gateway
 * would pile up with each start in a process that starts gateways again and again
 * (embedding, tests). They describe the process, which every gateway in it shares.
 */
export function processMetrics(): readonly Metric[] {
  if (processMetricSet === undefined) {
    const registry = new Registry();
    collectDefaultMetrics({ register: registry, prefix: 'gatehouse_' });
    // getSingleMetric gives each as the Metric that registerMetric takes (getMetricsAsArray's type is another).
    const set = registry.getMetricsAsArray().map(({ name }) => registry.getSingleMetric(name) as Metric);
    processMetricSet = Object.freeze(set);
    return set;
  }
  return processMetricSet;
}

/** Lookups of one token cache not yet folded into prom-client. */
export interface CacheTally {
  hit: number;
  miss: number;
}

/** Counts not yet folded into prom-client, by label value; and the route's latency series. */
export interface RouteTally {
  readonly statuses: Map<number, number>;
  readonly outcomes: Map<string, number>;
  readonly latency: HistogramSeries;
}

function foldInto<K>(pending: Map<K, number>, inc: (key: K, n: number) => void): void {
  for (const [key, n] of pending) {
    if (n === 0) continue;
    inc(key, n);
    // Zeroed, not deleted: the key comes back on the next request anyway.
    pending.set(key, 0);
  }
}

/** One label value's series of a {@link FastHistogram}: plain numbers. */
export class HistogramSeries {
  /** Per bucket, not cumulative; the last slot is +Inf. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(private readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > (bounds[i] as number)) i++;
    this.counts[i] = (this.counts[i] as number) + 1;
    this.sum += value;
    this.count++;
  }
}

interface FastHistogramOptions {
  readonly name: string;
  readonly help: string;
  readonly labelName: string;
  readonly buckets: readonly number[];
  readonly registry: Registry;
}

interface SeriesValue {
  labels: Record<string, string | number>;
  sharedLabels?: Record<string, string>;
  value: number;
  metricName: string;
  /** prom-client's shape: null on buckets, undefined on `_sum` and `_count` (no exemplars here). */
  exemplar: null | undefined;
}

/**
 * A one-label histogram served by prom-client's registry exactly as its own
 * `Histogram` would be (same series, names and label order), whose `observe` is
 * a bucket search and three additions on a series resolved once per route.
 * A series appears once it has an observation, as with prom-client.
 */
export class FastHistogram {
  readonly name: string;
  readonly help: string;
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly labelName: string;
  private readonly bounds: readonly number[];
  private readonly series = new Map<string, HistogramSeries>();

  constructor(opts: FastHistogramOptions) {
    this.name = opts.name;
    this.help = opts.help;
    this.labelName = opts.labelName;
    this.bounds = Object.freeze([...opts.buckets]);
    opts.registry.registerMetric(this as unknown as Metric);
  }

  /** The series of one label value (created on first use, kept for good). */
  labels(value: string): HistogramSeries {
    let s = this.series.get(value);
    if (s === undefined) {
      s = new HistogramSeries(this.bounds);
      this.series.set(value, s);
    }
    return s;
  }

  observe(labels: Record<string, string>, value: number): void {
    this.labels(labels[this.labelName] as string).observe(value);
  }

  /** Zeroes every series in place: routes keep the series they resolved. */
  reset(): void {
    for (const s of this.series.values()) {
      s.counts.fill(0);
      s.sum = 0;
      s.count = 0;
    }
  }

  /** What prom-client's registry reads for the text format. */
  async getForPromString(): Promise<{ name: string; help: string; type: string; aggregator: string; values: SeriesValue[] }> {
    const values: SeriesValue[] = [];
    const bucketName = `${this.name}_bucket`;
    for (const [labelValue, s] of this.series) {
      if (s.count === 0) continue;
      const shared = { [this.labelName]: labelValue };
      let acc = 0;
      for (let i = 0; i < this.bounds.length; i++) {
        acc += s.counts[i] as number;
        values.push({ labels: { le: this.bounds[i] as number }, sharedLabels: shared, value: acc, metricName: bucketName, exemplar: null });
      }
      values.push(
        { labels: { le: '+Inf' }, sharedLabels: shared, value: s.count, metricName: bucketName, exemplar: null },
        { labels: {}, sharedLabels: shared, value: s.sum, metricName: `${this.name}_sum`, exemplar: undefined },
        { labels: {}, sharedLabels: shared, value: s.count, metricName: `${this.name}_count`, exemplar: undefined },
      );
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  /** What prom-client's registry reads for JSON: the shared label merged into each value's labels. */
  async get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: SeriesValue[] }> {
    const data = await this.getForPromString();
    data.values = data.values.map(({ sharedLabels, labels, ...rest }) => ({ ...rest, labels: { ...labels, ...sharedLabels } }));
    return data;
  }
}
