import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * The gateway's Prometheus metrics. One instance per gateway; label values are
 * bounded (route names from config, outcome codes from the error catalog).
 */
export class GatewayMetrics {
  readonly registry = new Registry();

  readonly requests = new Counter({
    name: 'gatehouse_requests_total',
    help: 'Requests by route, method class and response status.',
    labelNames: ['route', 'status'] as const,
    registers: [this.registry],
  });

  readonly authOutcomes = new Counter({
    name: 'gatehouse_auth_outcomes_total',
    help: 'Authentication and authorization outcomes by route and reason (ok or an error code).',
    labelNames: ['route', 'outcome'] as const,
    registers: [this.registry],
  });

  readonly latency = new Histogram({
    name: 'gatehouse_request_duration_seconds',
    help: 'Time from request start to response headers sent upstream-inclusive.',
    labelNames: ['route'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });

  readonly jwksFetches = new Counter({
    name: 'gatehouse_jwks_fetches_total',
    help: 'JWKS fetches by issuer and result (ok, error).',
    labelNames: ['issuer', 'result'] as const,
    registers: [this.registry],
  });

  readonly tokenCache = new Counter({
    name: 'gatehouse_token_cache_total',
    help: 'Verified-token cache lookups by result (hit, miss).',
    labelNames: ['cache', 'result'] as const,
    registers: [this.registry],
  });

  readonly upstreamErrors = new Counter({
    name: 'gatehouse_upstream_errors_total',
    help: 'Upstream failures by route and kind (connect, timeout, reset).',
    labelNames: ['route', 'kind'] as const,
    registers: [this.registry],
  });

  readonly sessionRefreshes = new Counter({
    name: 'gatehouse_session_refreshes_total',
    help: 'Session token refreshes by outcome: refreshed (one provider call), adopted (another request or instance had just refreshed), refused (session ended), failed (provider or store unavailable).',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  readonly sessionLogins = new Counter({
    name: 'gatehouse_session_logins_total',
    help: 'Browser logins completed at /auth/callback by result (ok, failed).',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  constructor(opts: { collectDefault?: boolean } = {}) {
    if (opts.collectDefault ?? true) collectDefaultMetrics({ register: this.registry, prefix: 'gatehouse_' });
  }
}
