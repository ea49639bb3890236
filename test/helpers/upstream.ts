import { createHash } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What the echo upstream received, as it reports it (also in its JSON response body). */
export interface EchoRecord {
  method: string;
  /** The request target's path, exactly as received. */
  path: string;
  /** The raw query string including '?', or ''. */
  query: string;
  headers: IncomingHttpHeaders;
  /** Raw header pairs, to see duplicates and original spelling. */
  rawHeaders: string[];
  bodyBytes: number;
  /** sha256 (hex) of the body. */
  bodySha256: string;
  /** The body as UTF-8 when it is at most 4 KiB. */
  body: string | undefined;
}

/**
 * How the upstream answers:
 * - `echo`: 200 JSON {@link EchoRecord} after reading the whole body;
 * - `hang`: reads the request, never answers (until closed);
 * - `stream`: 200, writes `first`, then waits for {@link EchoUpstream.release} before `rest` and the end;
 * - `early`: answers as soon as the first body chunk arrives (proves the body is streamed);
 * - `hop-by-hop`: echo, plus hop-by-hop and Connection-listed response headers the gateway must remove;
 * - `reset`: announces a 1000-byte body, sends 10 bytes, then drops the connection.
 */
export type UpstreamMode = 'echo' | 'hang' | 'stream' | 'early' | 'hop-by-hop' | 'reset' | 'cookies';

/** What mode `cookies` answers with: cookies in the gateway's namespace, spelled several ways, beside the service's own, and an HSTS header. */
export const UPSTREAM_COOKIES = [
  '__Host-gh_sid=planted; Path=/; Secure; HttpOnly; SameSite=Lax',
  '__host-GH_csrf=known; Path=/; Secure',
  '=__Host-gh_sid=nameless; Path=/; Secure',
  ' __Host-gh_s.0=1~x; Path=/; Secure',
  'app=1; Path=/',
  'theme=dark',
];

export interface EchoUpstream {
  /** e.g. `http://127.0.0.1:41234` */
  readonly url: string;
  /** Every request received, oldest first. */
  readonly received: EchoRecord[];
  setMode(mode: UpstreamMode): void;
  /** Resolves when the next request arrives (its headers have been read). */
  nextRequest(): Promise<IncomingMessage>;
  /** In `stream` mode: lets held responses send their rest and end. */
  release(): void;
  /** Number of TCP connections the upstream has accepted. */
  readonly connections: number;
  close(): Promise<void>;
}

const STREAM_FIRST = 'first-chunk;';
const STREAM_REST = 'rest-of-the-body';

export { STREAM_FIRST, STREAM_REST };

/** Starts a real node:http echo upstream on an ephemeral loopback port. */
export async function startEchoUpstream(): Promise<EchoUpstream> {
  let mode: UpstreamMode = 'echo';
  const received: EchoRecord[] = [];
  const held = new Set<ServerResponse>();
  let releases: (() => void)[] = [];
  let arrivals: ((req: IncomingMessage) => void)[] = [];
  let connections = 0;

  const server: Server = createServer((req, res) => {
    const waiting = arrivals;
    arrivals = [];
    for (const w of waiting) w(req);
    const current = mode;
    if (current === 'hang') {
      held.add(res);
      res.on('close', () => held.delete(res));
      req.resume();
      return;
    }
    if (current === 'stream') {
      req.resume();
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write(STREAM_FIRST);
      held.add(res);
      res.on('close', () => held.delete(res));
      releases.push(() => res.end(STREAM_REST));
      return;
    }
    if (current === 'reset') {
      req.resume();
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '1000' });
      res.write('0123456789', () => res.destroy());
      return;
    }
    if (current === 'early') {
      req.once('data', (chunk: Buffer) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ firstChunkBytes: chunk.length }));
        req.resume();
      });
      return;
    }
    void readRecord(req).then((record) => {
      received.push(record);
      const body = JSON.stringify(record);
      const headers: Record<string, string | string[]> = { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) };
      if (current === 'cookies') Object.assign(headers, { 'set-cookie': UPSTREAM_COOKIES, 'strict-transport-security': 'max-age=0' });
      if (current === 'hop-by-hop') {
        Object.assign(headers, {
          connection: 'keep-alive, x-upstream-private',
          'x-upstream-private': 'must not pass',
          'keep-alive': 'timeout=5',
          'proxy-authenticate': 'Basic realm="upstream"',
          'x-upstream-public': 'passes',
        });
      }
      res.writeHead(200, headers);
      res.end(body);
    }, () => res.destroy()); // the gateway gave up on the request mid-body
  });
  server.on('connection', () => connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    received,
    get connections() {
      return connections;
    },
    setMode(next) {
      mode = next;
    },
    nextRequest() {
      return new Promise((resolve) => arrivals.push(resolve));
    },
    release() {
      const pending = releases;
      releases = [];
      for (const r of pending) r();
    },
    async close() {
      for (const res of held) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function readRecord(req: IncomingMessage): Promise<EchoRecord> {
  const hash = createHash('sha256');
  let bytes = 0;
  const small: Buffer[] = [];
  for await (const chunk of req) {
    const buf = chunk as Buffer;
    hash.update(buf);
    bytes += buf.length;
    if (bytes <= 4096) small.push(buf);
  }
  const url = req.url ?? '';
  const q = url.indexOf('?');
  return {
    method: req.method ?? '',
    path: q < 0 ? url : url.slice(0, q),
    query: q < 0 ? '' : url.slice(q),
    headers: req.headers,
    rawHeaders: req.rawHeaders,
    bodyBytes: bytes,
    bodySha256: hash.digest('hex'),
    body: bytes <= 4096 ? Buffer.concat(small).toString('utf8') : undefined,
  };
}

/** A loopback port with nothing listening: connecting to it is refused. */
export async function refusedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
