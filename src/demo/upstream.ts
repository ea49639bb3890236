import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface DemoUpstream {
  /** e.g. `http://127.0.0.1:40123` */
  readonly url: string;
  /** Where the demo's JWKS is served (loopback). */
  readonly jwksUri: string;
  close(): Promise<void>;
}

export const JWKS_PATH = '/.well-known/jwks.json';

/**
 * The service behind the demo gateway. `/api/orders` answers with the identity
 * headers it received, so the demo shows what the gateway propagates (and that
 * the client's own `x-gatehouse-*` headers never arrive). `/public/hello` is the
 * public route. It also serves the demo issuer's JWKS, which the gateway fetches
 * directly on loopback, not through a route.
 */
export async function startDemoUpstream(jwks: object, host = '127.0.0.1'): Promise<DemoUpstream> {
  const server = createServer((req, res) => handle(req, res, jwks));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://${host}:${port}`;
  return {
    url,
    jwksUri: `${url}${JWKS_PATH}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function handle(req: IncomingMessage, res: ServerResponse, jwks: object): void {
  const path = (req.url ?? '/').split('?')[0] ?? '/';
  if (path === JWKS_PATH) return json(res, 200, jwks, { 'cache-control': 'max-age=300' });
  if (path === '/public/hello') return json(res, 200, { message: 'hello from the demo upstream; no token needed here' });
  if (path === '/api/orders' || path.startsWith('/api/orders/') || path.startsWith('/api/refunds')) {
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
