import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { createLogThrottle, type Logger } from '../log.js';
import { settleWithin } from '../timers.js';

/** At most this many connections at once: probes and a scraper need a handful; more are closed at accept. */
export const ADMIN_MAX_CONNECTIONS = 64;
/** A client gets this long to send its request headers (then 408); an idle keep-alive connection closes after as long. */
export const ADMIN_HEADERS_TIMEOUT_MS = 5_000;
/**
 * The whole request must arrive within this; and a connection that sends or receives nothing for
 * this long is closed, also once shutdown has begun (server.close() stops Node's checks of the
 * header and request deadlines, not a socket's own idle timer).
 */
export const ADMIN_IDLE_TIMEOUT_MS = 10_000;
/** The same failure (a metrics collector that throws, say) is logged at most once per this. */
const FAILURE_LOG_INTERVAL_MS = 60_000;
/** How long close() lets answers already being written finish before it cuts every connection. */
export const ADMIN_CLOSE_GRACE_MS = 1_000;

/** What the admin listener needs from the gateway. */
export interface AdminDeps {
  /** The gateway's prom-client registry, rendered on `/metrics`. */
  readonly registry: Registry;
  /** False until every configured key source has loaded, and again once shutdown begins; drives `/readyz`. */
  readonly isReady: () => boolean;
  /** Where a failed answer (500) is reported; each distinct failure at most once a minute. */
  readonly logger?: Logger;
}

export interface AdminServer {
  /** Base URL, e.g. `http://127.0.0.1:9090` (the real port when 0 was asked for). */
  readonly url: string;
  close(): Promise<void>;
}

/**
 * Starts the admin listener: `GET /healthz` (200 while the process runs),
 * `GET /readyz` (503 until `isReady()`, then 200) and `GET /metrics`
 * (Prometheus text). Anything else is 404. Kept apart from the gateway's
 * listener so that metrics and probes are never reachable through a route.
 */
export async function startAdminServer(opts: { host: string; port: number }, deps: AdminDeps): Promise<AdminServer> {
  const inFlight = new Set<ServerResponse>();
  let idle: (() => void) | undefined;
  // A scraper retries every few seconds: one line per failure and minute, not one per scrape.
  const mayLogFailure = createLogThrottle(FAILURE_LOG_INTERVAL_MS);
  // Node checks the request and header deadlines on this interval (default 30 s, six times headersTimeout).
  const server = createServer({ connectionsCheckingInterval: 1_000 }, (req, res) => {
    inFlight.add(res);
    res.once('close', () => {
      inFlight.delete(res);
      if (inFlight.size === 0) idle?.();
    });
    handle(req, res, deps).catch((err: unknown) => {
      if (mayLogFailure(err instanceof Error ? `${err.name}: ${err.message}` : String(err))) {
        // Only /metrics does work that can fail (a collector that throws).
        deps.logger?.error({ err }, 'admin listener: answering failed (500)');
      }
      if (!res.headersSent) send(res, 500, 'text/plain; charset=utf-8', 'internal error\n');
      else res.destroy();
    });
  });
  // Probes are short; a stuck client must not hold a socket for long.
  server.requestTimeout = ADMIN_IDLE_TIMEOUT_MS;
  server.headersTimeout = ADMIN_HEADERS_TIMEOUT_MS;
  server.keepAliveTimeout = ADMIN_HEADERS_TIMEOUT_MS;
  // The deadlines above stop with server.close() (Node stops checking them); a socket's own idle timer does not.
  server.timeout = ADMIN_IDLE_TIMEOUT_MS;
  server.maxConnections = ADMIN_MAX_CONNECTIONS;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { address, port } = server.address() as AddressInfo;
  const host = address.includes(':') ? `[${address}]` : address;

  return {
    url: `http://${host}:${port}`,
    async close() {
      const stopped = new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
      server.closeIdleConnections();
      // Nothing here needs draining, but an answer being written may as well finish (briefly). Then every
      // connection goes, also one that sent nothing or half a request: server.close() waits for each, and
      // since it stopped the header and request deadlines, such a client would hold shutdown forever.
      if (inFlight.size > 0) await settleWithin(new Promise<void>((resolve) => (idle = resolve)), ADMIN_CLOSE_GRACE_MS);
      server.closeAllConnections();
      await stopped;
    },
  };
}

async function handle(req: IncomingMessage, res: ServerResponse, deps: AdminDeps): Promise<void> {
  const path = (req.url ?? '/').split('?')[0];
  const isRead = req.method === 'GET' || req.method === 'HEAD';
  if (!isRead && (path === '/healthz' || path === '/readyz' || path === '/metrics')) {
    res.setHeader('allow', 'GET, HEAD');
    send(res, 405, 'text/plain; charset=utf-8', 'method not allowed\n');
    return;
  }
  switch (path) {
    case '/healthz':
      send(res, 200, 'text/plain; charset=utf-8', 'ok\n');
      return;
    case '/readyz': {
      const ready = deps.isReady();
      send(res, ready ? 200 : 503, 'text/plain; charset=utf-8', ready ? 'ready\n' : 'not ready\n');
      return;
    }
    case '/metrics': {
      const body = await deps.registry.metrics();
      send(res, 200, deps.registry.contentType, body);
      return;
    }
    default:
      send(res, 404, 'text/plain; charset=utf-8', 'not found\n');
  }
}

function send(res: ServerResponse, status: number, contentType: string, body: string): void {
  res.statusCode = status;
  res.setHeader('content-type', contentType);
  res.setHeader('cache-control', 'no-store');
  res.setHeader('content-length', Buffer.byteLength(body));
  res.end(res.req.method === 'HEAD' ? undefined : body);
}
