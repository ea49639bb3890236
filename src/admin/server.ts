import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

/** What the admin listener needs from the gateway. */
export interface AdminDeps {
  /** The gateway's prom-client registry, rendered on `/metrics`. */
  readonly registry: Registry;
  /** False until every configured key source has loaded, and again once shutdown begins; drives `/readyz`. */
  readonly isReady: () => boolean;
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
  const server = createServer((req, res) => {
    handle(req, res, deps).catch(() => {
      if (!res.headersSent) send(res, 500, 'text/plain; charset=utf-8', 'internal error\n');
      else res.destroy();
    });
  });
  // Probes are short; a stuck client must not hold a socket for long.
  server.requestTimeout = 10_000;
  server.headersTimeout = 5_000;
  server.keepAliveTimeout = 5_000;

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
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        // Probe clients keep connections alive; do not let them delay shutdown.
        server.closeIdleConnections();
      }),
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
