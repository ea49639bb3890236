import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { isAbsolute, resolve } from 'node:path';
import { createSecureContext } from 'node:tls';
import { isLoopbackAddress } from '../loopback.js';
import type { Config } from '../config/schema.js';
import { ConfigError, GatehouseError } from '../errors.js';
import type { Logger } from '../log.js';
import { loggablePath } from './access-log.js';
import { hostHeaderError } from './host-header.js';
import { normalizePath } from './normalize-path.js';
import { hasRequestInHandler, sendError, writeRawError } from './respond.js';

type Listen = Config['listen'];
type Limits = Config['limits'];

/** The gateway's bound listeners. */
export interface Listeners {
  readonly server: Server;
  /** Plain-HTTP listener that only redirects to HTTPS, when `listen.tls.redirectPort` is set. */
  readonly redirect: Server | undefined;
  readonly url: string;
  readonly redirectUrl: string | undefined;
  readonly proto: 'http' | 'https';
  /** `Strict-Transport-Security` value, on HTTPS. */
  readonly hsts: string | undefined;
  /**
   * Serves `credentials` (see {@link readTlsCredentials}) to connections from now on; those
   * already open keep the certificate they were made with. A no-op without TLS.
   */
  useTlsCredentials(credentials: TlsCredentials): void;
  /** The URL length limit after a reload, for the redirect listener (the main handler reads its own from the current state). */
  useMaxUrlLength(maxUrlLength: number): void;
  /**
   * Cuts every connection still open on either listener, those still in their TLS handshake
   * included: Node's closeAllConnections() knows only the ones HTTP has taken over, and
   * server.close() waits for the others until the handshake times out (two minutes).
   */
  closeAllConnections(): void;
}

/**
 * What the listeners report of what never reaches the request handler, so that every
 * answer is counted and logged, and refused connections are counted.
 */
export interface ListenerObserver {
  /** An answer the listener wrote itself: a parser error, a refused `Expect`, CONNECT, a redirect listener's answer. */
  answered(answer: ListenerAnswer): void;
  /** A connection closed at accept, as `limits.maxConnections` were open on its listener. */
  dropped(): void;
}

/** One answer given by a listener, as it may be logged (no header value, the path masked). */
export interface ListenerAnswer {
  readonly status: number;
  /** Absent when Node could not parse the request line. */
  readonly method?: string;
  /** Normalized and masked as the access log writes it; `(unparsed)` or `(rejected)` when there is none to write. */
  readonly path: string;
}

const NO_OBSERVER: ListenerObserver = { answered: () => {}, dropped: () => {} };

/** The certificate chain and private key of `listen.tls`, read and checked to form a TLS context. */
export interface TlsCredentials {
  readonly cert: Buffer;
  readonly key: Buffer;
}

/**
 * Reads `listen.tls.cert` and `listen.tls.key` now. Throws, naming both files,
 * unless they read and make a TLS context (each parses, and the key is the
 * certificate's): a renewal caught half-written, or a certificate replaced
 * without its key, must never reach the listener.
 */
export function readTlsCredentials(tls: NonNullable<Listen['tls']>, baseDir = process.cwd()): TlsCredentials {
  const certPath = resolvePath(tls.cert, baseDir);
  const keyPath = resolvePath(tls.key, baseDir);
  try {
    const credentials = { cert: readFileSync(certPath), key: readFileSync(keyPath) };
    createSecureContext(credentials);
    return credentials;
  } catch (err) {
    throw new Error(`TLS certificate ${certPath} and key ${keyPath} do not load: ${(err as Error).message}`, { cause: err });
  }
}

/** The longest a TLS handshake may take (less when `limits.requestTimeoutMs` is shorter). */
const MAX_HANDSHAKE_MS = 10_000;

/**
 * Creates and binds the listeners. Limits are Node's own, set where Node
 * enforces them cheapest: header size in the parser (431), connection count in
 * the accept loop (excess sockets are closed at once), request time by the
 * server's timer. Parser errors get a problem+json answer instead of Node's bare one.
 * Those answers, and connections closed at the limit, are reported to `observer`.
 *
 * Refuses plain HTTP on a non-loopback address unless `allowInsecureHttp` says so
 * (then warns): tokens would cross the network in clear text.
 */
export async function startListeners(
  listen: Listen,
  limits: Limits,
  handler: (req: IncomingMessage, res: ServerResponse) => void,
  logger: Logger,
  baseDir = process.cwd(),
  observer: ListenerObserver = NO_OBSERVER,
): Promise<Listeners> {
  const tls = listen.tls;
  if (!tls && !isLoopbackAddress(listen.host)) {
    if (!listen.allowInsecureHttp) {
      throw new ConfigError([
        { path: 'listen.host', message: 'plain HTTP on a non-loopback address needs listen.tls, or allowInsecureHttp: true' },
      ]);
    }
    logger.warn({ host: listen.host }, 'serving plain HTTP on a non-loopback address: tokens travel unencrypted');
  }
  const options = {
    maxHeaderSize: limits.maxHeaderBytes,
    requestTimeout: limits.requestTimeoutMs,
    headersTimeout: Math.min(limits.requestTimeoutMs, 60_000),
    keepAliveTimeout: 5_000,
    // Node checks request and header deadlines on this interval (default 30 s): keep it well under the limit.
    connectionsCheckingInterval: Math.max(100, Math.min(5_000, Math.floor(limits.requestTimeoutMs / 4))),
    // Checked by the handlers (hostHeaderError), which also refuse duplicates, with a problem+json body.
    requireHostHeader: false,
  };
  const hsts = tls ? `max-age=${Math.floor(tls.hstsMaxAge)}` : undefined;
  let served = tls ? readTlsCredentials(tls, baseDir) : undefined;
  // Node's request and header deadlines start after the handshake; its own handshake limit is two
  // minutes, long enough for silent connections to hold every slot of maxConnections.
  const handshakeTimeout = Math.min(limits.requestTimeoutMs, MAX_HANDSHAKE_MS);
  const server = served ? createHttpsServer({ ...options, ...served, handshakeTimeout }, handler) : createHttpServer(options, handler);
  server.maxConnections = limits.maxConnections;
  // Node's closeAllConnections() knows plain HTTP connections from accept on, TLS ones only once
  // their handshake is done: only a TLS listener needs its sockets tracked here.
  const tlsSockets = new Set<Socket>();
  if (served) trackSockets(server as HttpsServer, tlsSockets);
  // Without this listener Node answers `Expect: 100-continue` at once, before authentication, and the
  // client sends a body the gateway may refuse; the handler sends 100 only for an admitted request.
  server.on('checkContinue', handler);
  const redirectTarget: RedirectTarget = { fallbackHost: listen.host, httpsPort: 0, maxUrlLength: limits.maxUrlLength };
  // The URL length limit as reloaded, for the paths these answers log.
  const report: Reporter = { observer, maxUrlLength: () => redirectTarget.maxUrlLength };
  answerBeforeHandler(server, hsts, report);
  const address = await bind(server, listen.port, listen.host);
  redirectTarget.httpsPort = address.port;
  const proto = tls ? 'https' : 'http';
  const url = `${proto}://${formatHost(address.address)}:${address.port}`;

  let redirect: Server | undefined;
  let redirectUrl: string | undefined;
  if (tls?.redirectPort !== undefined) {
    redirect = createHttpServer(options, (req, res) => {
      redirectToHttps(req, res, redirectTarget);
      report.observer.answered({ status: res.statusCode, method: req.method, path: pathToLog(req, report) });
    });
    redirect.maxConnections = limits.maxConnections;
    answerBeforeHandler(redirect, undefined, report);
    try {
      const r = await bind(redirect, tls.redirectPort, listen.host);
      redirectUrl = `http://${formatHost(r.address)}:${r.port}`;
    } catch (err) {
      server.close();
      throw err;
    }
  }
  return {
    server,
    redirect,
    url,
    redirectUrl,
    proto,
    hsts,
    closeAllConnections() {
      for (const s of [server, redirect]) s?.closeAllConnections();
      for (const socket of tlsSockets) socket.destroy();
    },
    useTlsCredentials(credentials) {
      if (served === undefined || (served.cert.equals(credentials.cert) && served.key.equals(credentials.key))) return;
      const https = server as HttpsServer;
      // A new context would bring new session ticket keys, and every client a full handshake after each reload.
      https.setSecureContext({ ...credentials, ticketKeys: https.getTicketKeys() });
      served = credentials;
    },
    useMaxUrlLength(maxUrlLength) {
      redirectTarget.maxUrlLength = maxUrlLength;
    },
  };
}

/** The observer, and the URL length limit in force (the paths logged are bounded by it). */
interface Reporter {
  readonly observer: ListenerObserver;
  readonly maxUrlLength: () => number;
}

/**
 * What a listener answers itself, before or instead of its request handler: parser errors,
 * an `Expect` other than 100-continue, CONNECT; and the connections it closes at its limit.
 * Each answer written is reported (one refused without an answer is not: nothing was said).
 */
function answerBeforeHandler(server: Server, hsts: string | undefined, report: Reporter): void {
  server.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) => {
    refuseExpectation(res, hsts);
    report.observer.answered({ status: res.statusCode, method: req.method, path: pathToLog(req, report) });
  });
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    // A request the handler took (its body timed out, or broke) is counted and logged there when it closes.
    const handled = hasRequestInHandler(socket);
    const status = answerClientError(err, socket, hsts);
    if (status !== undefined && !handled) report.observer.answered({ status, path: '(unparsed)' });
  });
  server.on('connect', (req: IncomingMessage, socket: Socket) => {
    // The target of a CONNECT is a host and port, not a path.
    const status = refuseTunnel(socket, hsts);
    if (status !== undefined) report.observer.answered({ status, method: req.method, path: '(rejected)' });
  });
  server.on('drop', () => report.observer.dropped());
}

/**
 * The path of a request a listener answered, as the access log writes the handler's: normalized
 * and masked, or `(rejected)` when it is too long or does not normalize (the handler would have
 * refused it before reading it as a path).
 */
function pathToLog(req: IncomingMessage, report: Reporter): string {
  const url = req.url ?? '';
  if (url.length > report.maxUrlLength() || !url.startsWith('/')) return '(rejected)';
  const q = url.indexOf('?');
  try {
    return loggablePath(normalizePath(q < 0 ? url : url.slice(0, q)));
  } catch {
    return '(rejected)';
  }
}

/** Keeps in `sockets` the TCP connections `server` has open, from accept on (before their TLS handshake). */
function trackSockets(server: HttpsServer, sockets: Set<Socket>): void {
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
}

function resolvePath(file: string, baseDir: string): string {
  return isAbsolute(file) ? file : resolve(baseDir, file);
}

function bind(server: Server, port: number, host: string): Promise<AddressInfo> {
  return new Promise((resolveBind, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolveBind(server.address() as AddressInfo);
    });
  });
}

function formatHost(address: string): string {
  return address.includes(':') ? `[${address}]` : address;
}

/**
 * Maps Node's parser errors to our codes; Node would otherwise send a bare status line.
 * Returns the status written, or undefined when the connection closed without an answer.
 */
function answerClientError(err: NodeJS.ErrnoException, socket: Socket, hsts: string | undefined): number | undefined {
  if (err.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return undefined;
  }
  let error: GatehouseError;
  switch (err.code) {
    case 'HPE_HEADER_OVERFLOW':
      error = new GatehouseError('GH_HEADERS_TOO_LARGE', 'request headers exceed the size limit');
      break;
    case 'ERR_HTTP_REQUEST_TIMEOUT':
    case 'HPE_HEADERS_TIMEOUT':
      error = new GatehouseError('GH_REQUEST_TIMEOUT', 'the request was not received in time');
      break;
    default:
      error = new GatehouseError('GH_BAD_REQUEST', 'the request could not be parsed');
  }
  return writeRawError(socket, error, hsts) ? error.status : undefined;
}

/**
 * CONNECT asks for a tunnel, which a reverse proxy never opens. Without a listener Node
 * would close the socket without a word; the answer says why, and the connection closes.
 * writeRawError decides whether the answer can be written (see there); returns the status
 * written, or undefined when none was.
 */
function refuseTunnel(socket: Socket, hsts: string | undefined): number | undefined {
  const error = new GatehouseError('GH_METHOD_NOT_IMPLEMENTED', 'CONNECT is not served: the gateway is not a forward proxy');
  return writeRawError(socket, error, hsts) ? error.status : undefined;
}

/**
 * An `Expect` other than `100-continue`: Node would answer a bare 417 itself, without
 * HSTS or a problem+json body. The body was not read, so the connection closes.
 */
function refuseExpectation(res: ServerResponse, hsts: string | undefined): void {
  // A 417 carries no challenge, so the realm is never sent.
  sendError(res, new GatehouseError('GH_EXPECTATION_FAILED', 'only the expectation 100-continue is supported'), { realm: 'gatehouse', hsts, close: true });
}

interface RedirectTarget {
  /** The listen host, for a request without a Host (HTTP/1.0, or an empty one). */
  readonly fallbackHost: string;
  /** The HTTPS listener's port, once bound. */
  httpsPort: number;
  /** The HTTPS listener's limit (as reloaded): a longer target would only be refused there (414). */
  maxUrlLength: number;
}

function redirectToHttps(req: IncomingMessage, res: ServerResponse, to: RedirectTarget): void {
  // Neither answer carries a challenge, so the realm is never sent.
  const refusal =
    hostHeaderError(req) ??
    ((req.url ?? '').length > to.maxUrlLength ? new GatehouseError('GH_URI_TOO_LONG', 'the request target is too long') : undefined);
  if (refusal !== undefined) return sendError(res, refusal, { realm: 'gatehouse', close: true });
  // hostHeaderError let through only a DNS name or an IP literal (and a port): safe to echo.
  const hostHeader = req.headers.host;
  const host = (hostHeader ? hostHeader : formatHost(to.fallbackHost)).replace(/:\d*$/, '');
  const target = (req.url ?? '/').startsWith('/') ? (req.url as string) : '/';
  const port = to.httpsPort === 443 ? '' : `:${to.httpsPort}`;
  // The Location follows the client's Host: no shared cache may keep it for another client.
  res.writeHead(308, { location: `https://${host}${port}${target}`, 'cache-control': 'no-store', 'content-length': '0', connection: 'close' });
  res.end();
}
