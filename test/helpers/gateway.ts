import { connect as netConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { Writable } from 'node:stream';
import { request } from 'undici';
import { GatewayMetrics } from '../../src/admin/metrics.js';
import { validateConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import { startGateway, type Gateway } from '../../src/gateway.js';
import { createLogger } from '../../src/log.js';

/** A gateway started for a test, with its log lines captured. */
export interface TestGateway {
  readonly gw: Gateway;
  readonly config: Config;
  readonly metrics: GatewayMetrics;
  /** Every log line written so far, raw. */
  readonly logText: () => string;
  /** Parsed log lines with `msg: 'request'`. */
  readonly requestLogs: () => Record<string, unknown>[];
  close(): Promise<void>;
}

/**
 * Validates `raw` with the real schema (listen and admin on ephemeral loopback
 * ports unless set) and starts the gateway with a log stream the test can read.
 */
export async function startTestGateway(raw: Record<string, unknown>, opts: { now?: () => number; baseDir?: string } = {}): Promise<TestGateway> {
  const config = validateConfig({
    listen: { host: '127.0.0.1', port: 0 },
    admin: { enabled: false },
    ...raw,
  });
  const chunks: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk.toString('utf8'));
      cb();
    },
  });
  const logger = createLogger('info', sink);
  const metrics = new GatewayMetrics({ collectDefault: false });
  const gw = await startGateway(config, { logger, metrics, now: opts.now, baseDir: opts.baseDir });
  await gw.ready;
  const logText = () => chunks.join('');
  return {
    gw,
    config,
    metrics,
    logText,
    requestLogs: () =>
      logText()
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .filter((l) => l.msg === 'request'),
    close: () => gw.close(),
  };
}

/** A response read off a raw socket. */
export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** Everything received, for tests that inspect the wire. */
  raw: string;
}

/**
 * Sends bytes exactly as given (no client-side normalization of paths or headers)
 * and reads the response until the server closes. Include `Connection: close`.
 */
export function rawRequest(baseUrl: string, text: string, tlsOpts?: { ca: string }): Promise<RawResponse> {
  const url = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const port = Number(url.port);
    const socket = tlsOpts
      ? tlsConnect({ host: url.hostname, port, ca: tlsOpts.ca, servername: 'localhost' })
      : netConnect({ host: url.hostname, port });
    const received: Buffer[] = [];
    socket.on('data', (d: Buffer) => received.push(d));
    socket.on('error', reject);
    socket.on('close', () => {
      const raw = Buffer.concat(received).toString('latin1');
      resolve(parseRawResponse(raw));
    });
    socket.write(text);
  });
}

export function parseRawResponse(raw: string): RawResponse {
  const end = raw.indexOf('\r\n\r\n');
  const head = end < 0 ? raw : raw.slice(0, end);
  const [statusLine, ...lines] = head.split('\r\n');
  const status = Number((statusLine ?? '').split(' ')[1]);
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { status, headers, body: end < 0 ? '' : raw.slice(end + 4), raw };
}

/** A GET as raw text, with a Host and `Connection: close`. */
export function rawGet(path: string, extraHeaders: string[] = []): string {
  return [`GET ${path} HTTP/1.1`, 'Host: gateway.test', ...extraHeaders, 'Connection: close', '', ''].join('\r\n');
}

/** A response read with undici, body as text. */
export interface CallResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json<T = Record<string, unknown>>(): T;
}

/** One request through undici's global pool (keep-alive, as real clients do). */
export async function call(
  url: string,
  opts: { method?: string; headers?: Record<string, string> | string[]; body?: string | Buffer } = {},
): Promise<CallResult> {
  const res = await request(url, { method: (opts.method ?? 'GET') as 'GET', headers: opts.headers, body: opts.body });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, text, json: <T>() => JSON.parse(text) as T };
}
