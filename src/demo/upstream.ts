import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface DemoUpstream {
  /** e.g. `http://127.0.0.1:40123` */
  readonly url: string;
  close(): Promise<void>;
}

/**
 * The service behind the demo gateway. `/api/orders` answers with the identity
 * headers it received, so the demo shows what the gateway propagates (and that
 * the client's own `x-gatehouse-*` headers never arrive). `/public/hello` is the
 * public route; `/api/inventory` sits behind the opaque-token (introspection) route.
 */
export async function startDemoUpstream(host = '127.0.0.1'): Promise<DemoUpstream> {
  const server = createServer((req, res) => handle(req, res));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://${host}:${port}`;
  return {
    url,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function handle(req: IncomingMessage, res: ServerResponse): void {
  const path = (req.url ?? '/').split('?')[0] ?? '/';
  if (path === '/public/hello') return json(res, 200, { message: 'hello from the demo upstream; no token needed here' });
  if (path === '/api/orders' || path.startsWith('/api/orders/') || path.startsWith('/api/refunds') || path.startsWith('/api/inventory')) {
    return json(res, 200, {
      upstream: 'demo',
      method: req.method,
      path: req.url,
      // What the gateway told us about the caller; the service trusts these because only the gateway can reach it.
      identity: pick(req.headers, (name) => name.startsWith('x-gatehouse-')),
      forwarded: pick(req.headers, (name) => name.startsWith('x-forwarded-') || name === 'x-request-id'),
      authorizationForwarded: req.headers.authorization !== undefined,
      orders: [
        { id: 'A-1001', item: 'tea', quantity: 2 },
        { id: 'A-1002', item: 'biscuits', quantity: 1 },
      ],
    });
  }
  json(res, 404, { error: 'not found in the demo upstream' });
}

function pick(headers: IncomingMessage['headers'], keep: (name: string) => boolean): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (keep(name) && value !== undefined) out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = `${JSON.stringify(body, null, 2)}\n`;
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}
