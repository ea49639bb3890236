import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * How the stand-in answers: `ok` per its token table; the others are the
 * failure modes a gateway must survive (RFC 7662 endpoint broken in some way).
 */
export type StubMode = 'ok' | 'hang' | 'reset' | 'reset-once' | '500' | 'not-json' | 'bad-active' | 'huge' | 'html' | 'jsonp' | 'unsupported';

export interface IntrospectionStub {
  /** Base URL; also the issuer (serves OpenID discovery). */
  readonly issuer: string;
  /** The introspection endpoint. */
  readonly endpoint: string;
  readonly clientId: string;
  readonly clientSecret: string;
  mode: StubMode;
  /** Token → response body for `ok` mode; unknown tokens are `{ active: false }`. */
  readonly tokens: Map<string, Record<string, unknown>>;
  /** Introspection requests received (discovery not counted). */
  requests: number;
  /** Introspection requests received and not yet answered, now and at most (reset it to measure again). */
  readonly inFlight: number;
  maxInFlight: number;
  /** The last request's form body and Authorization header. */
  last: { form: URLSearchParams; authorization: string | undefined } | undefined;
  /** Delays every introspection answer (and reset) by this many ms. */
  delayMs: number;
  /** Holds `ok` answers until the returned function is called (for single-flight tests). */
  hold(): () => void;
  /** Connections from clients that are open now (a closed client pool leaves none). */
  readonly connections: number;
  /** Overrides the metadata document's `issuer` (to test discovery checks). */
  metadataIssuer: string | undefined;
  close(): Promise<void>;
}

/** A controllable RFC 7662 endpoint on loopback: a real HTTP server, not a mock. */
export async function startIntrospectionStub(
  opts: { clientId?: string; clientSecret?: string } = {},
): Promise<IntrospectionStub> {
  const clientId = opts.clientId ?? 'gateway';
  const clientSecret = opts.clientSecret ?? 'gateway-secret';
  const expected = `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}`;
  let held: Promise<void> | undefined;
  let inFlight = 0;
  const hanging = new Set<ServerResponse>();

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (req.method === 'GET' && req.url === '/.well-known/openid-configuration') {
      json(res, 200, { issuer: stub.metadataIssuer ?? stub.issuer, introspection_endpoint: stub.endpoint });
      return;
    }
    if (req.method !== 'POST' || req.url !== '/introspect') return json(res, 404, { error: 'not_found' });
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
    stub.requests++;
    inFlight++;
    stub.maxInFlight = Math.max(stub.maxInFlight, inFlight);
    res.on('close', () => inFlight--);
    if (stub.delayMs > 0) await new Promise((r) => setTimeout(r, stub.delayMs));
    stub.last = { form, authorization: req.headers.authorization };
    switch (stub.mode) {
      case 'hang':
        hanging.add(res);
        return;
      case 'reset':
        req.socket.destroy();
        return;
      case 'reset-once':
        stub.mode = 'ok';
        req.socket.destroy();
        return;
      case '500':
        return json(res, 500, { error: 'server_error' });
      case 'not-json':
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"active": tru');
        return;
      case 'bad-active':
        return json(res, 200, { active: 'true' });
      case 'huge':
        return json(res, 200, { active: true, padding: 'x'.repeat(1024 * 1024) });
      case 'html':
        res.writeHead(200, { 'content-type': 'text/html' }).end('<html>maintenance</html>');
        return;
      case 'jsonp':
        // A well-formed answer under another media type that starts like JSON's.
        res.writeHead(200, { 'content-type': 'application/jsonp' }).end(JSON.stringify(stub.tokens.get(form.get('token') ?? '') ?? { active: false }));
        return;
      case 'unsupported':
        return json(res, 400, { error: 'unsupported_token_type' });
      case 'ok':
        break;
    }
    if (req.headers.authorization !== expected) return json(res, 401, { error: 'invalid_client' });
    if (held) await held;
    json(res, 200, stub.tokens.get(form.get('token') ?? '') ?? { active: false });
  };

  const server = createServer((req, res) => {
    handle(req, res).catch(() => res.destroy());
  });
  // Idle connections stay until the client closes them (Node's default drops them after 5 s), so a
  // test can tell a client that closed its pool from one that merely went idle.
  server.keepAliveTimeout = 60_000;
  let connections = 0;
  server.on('connection', (socket) => {
    connections++;
    socket.on('close', () => connections--);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const stub: IntrospectionStub = {
    issuer: base,
    endpoint: `${base}/introspect`,
    clientId,
    clientSecret,
    mode: 'ok',
    tokens: new Map(),
    requests: 0,
    get inFlight() {
      return inFlight;
    },
    maxInFlight: 0,
    delayMs: 0,
    last: undefined,
    metadataIssuer: undefined,
    get connections() {
      return connections;
    },
    hold() {
      let release!: () => void;
      held = new Promise<void>((r) => (release = r));
      return () => {
        held = undefined;
        release();
      };
    },
    async close() {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return stub;
}

/** A loopback URL where nothing listens: the endpoint is down. */
export async function closedPortUrl(path = '/introspect'): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}${path}`;
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify(body));
}
