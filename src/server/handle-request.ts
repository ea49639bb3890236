import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { asGatehouseError, GatehouseError } from '../errors.js';
import type { Logger } from '../log.js';
import { loggablePath, type AccessLog } from './access-log.js';
import type { Credential, Identity, RequestContext } from '../pipeline/context.js';
import { queryParamTest } from '../pipeline/query-param-name.js';
import { resumePipeline, runPipelineSync } from '../pipeline/run.js';
import { stripGatewayCookies } from '../sessions/cookies.js';
import type { SessionEndpoints } from '../sessions/routes.js';
import type { CompiledRoute } from './compile-routes.js';
import { buildUpstreamHeaders, isChunkedAlone, requestedHost } from './forwarded-headers.js';
import { forwardRequest, type ProxyHandler, type UpstreamFailureKind, type UpstreamObserver } from './forward.js';
import { hostHeaderError } from './host-header.js';
import { normalizePath } from './normalize-path.js';
import { hasWaiting, startInTurn } from './pipelined.js';
import { sendError } from './respond.js';
import type { RouteMetrics } from './route-metrics.js';
import type { Router } from './router.js';
import type { Traffic } from './traffic.js';
import type { TrustedProxies } from './trusted-proxies.js';

/** Everything a configuration decides; swapped as one value on reload. */
export interface GatewayState {
  readonly router: Router<CompiledRoute>;
  readonly realm: string;
  readonly maxUrlLength: number;
  readonly trusted: TrustedProxies;
  /** Metrics for requests that matched no route. */
  readonly unroutedMetrics: RouteMetrics;
  /** The gateway's own `/auth/*` endpoints, served before routing, when `sessions` is configured. */
  readonly sessionEndpoints?: SessionEndpoints;
  /** The requests that started under this configuration. */
  readonly traffic: Traffic;
}

/** What stays the same across reloads. */
export interface HandlerEnv {
  readonly proto: 'http' | 'https';
  /** `Strict-Transport-Security` value on HTTPS. */
  readonly hsts: string | undefined;
  readonly logger: Logger;
  /** Writes the one log line per request. */
  readonly accessLog: AccessLog;
  /** Reads the current state once per request, so a reload never mixes two tables in one request. */
  state(): GatewayState;
  /** True once shutdown began: each answer then ends its connection, unless requests pipelined behind it wait. */
  readonly draining: boolean;
}

/** Whether flat `[name, value, …]` headers from the pipeline set a cookie. */
function hasSetCookie(headers: readonly string[]): boolean {
  for (let i = 0; i < headers.length; i += 2) if (headers[i] === 'set-cookie') return true;
  return false;
}

const SANE_REQUEST_ID = /^[A-Za-z0-9._:@-]{1,128}$/;
/** `_method` in any spelling an upstream decodes to it (`_%6Dethod`, `.method`, `+_method` …). */
const hasMethodOverrideParam = queryParamTest('_method');

// Node's own test for when it emits `checkContinue` (HTTP/1.1 only).
const CONTINUE = /(?:^|\W)100-continue(?:$|\W)/i;

/**
 * Whether the client waits for `100 Continue` before sending its body. The
 * listener takes Node's `checkContinue` event, so nothing has been sent yet:
 * the gateway asks for the body only once the request is admitted, and a
 * refused request's body is never transmitted.
 */
function awaitsContinue(req: IncomingMessage): boolean {
  const expect = req.headers.expect;
  return expect !== undefined && req.httpVersionMinor === 1 && req.httpVersionMajor === 1 && CONTINUE.test(expect);
}

/** A refused request's body up to this size is read and dropped, keeping the connection; a longer one closes it. */
const MAX_DRAINED_BODY_BYTES = 64 * 1024;

/**
 * Whether an error answer closes the connection because the request body was
 * not read: an unread body must never be parsed as the next request, and
 * reading one nobody wants is work a refused client should not get to ask for.
 * Node drains a small declared body after the answer, which keeps the
 * connection; a body over the limit, a chunked one (no length to bound the
 * drain), or one the client holds back for `100 Continue` ends the connection.
 */
function closesAfterRefusal(req: IncomingMessage, status: number): boolean {
  if (req.complete) return false;
  const h = req.headers;
  if (status === 413 || h['transfer-encoding'] !== undefined || awaitsContinue(req)) return true;
  const length = h['content-length'];
  return length !== undefined && Number(length) > MAX_DRAINED_BODY_BYTES;
}

/**
 * Connections whose last answer said `Connection: close` because a refused body
 * was left unread. A client may have pipelined more requests behind it, which
 * Node still parses and hands over; none of them is processed (RFC 9112 §9.6),
 * so a request the client will never see answered cannot take effect upstream.
 */
const closingConnections = new WeakSet<object>();

/** The gateway's request listener: normalize → route → pipeline → propagate → forward. */
export function createRequestHandler(env: HandlerEnv): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    // Left unanswered: Node closes the connection once the refusal before it is written.
    if (closingConnections.has(req.socket)) return;
    const state = env.state();
    const exchange = new Exchange(req, res, env, state);
    state.traffic.started();
    // `on`, not `once`: 'close' is emitted once, and `once` would wrap the listener per request.
    // Also for a request still waiting its turn: one the client leaves is logged and counted (499).
    res.on('close', exchange.onClose);
    // Pipelined behind an answer still being written: started when that one is done.
    if (res.socket === null) return startInTurn(req, res, () => exchange.start(), env.logger);
    exchange.start();
  };
}

/** One request on its way through the gateway: the pipeline context and the upstream observer. */
class Exchange implements RequestContext, UpstreamObserver {
  readonly requestId: string;
  path = '';
  query = '';
  credential: Credential | undefined = undefined;
  identity: Identity | undefined = undefined;
  responseHeaders: string[] | undefined = undefined;
  private route: CompiledRoute | undefined;
  private authOutcome = '';
  private upstream: ProxyHandler | undefined;
  /** False while a pipelined request waits its turn: one the client leaves then was never looked at. */
  private begun = false;
  private readonly startedAt = performance.now();
  /**
   * What keeps this request counted in its configuration's traffic: the
   * response, and asynchronous work under way (a verification, a session
   * refresh, a session endpoint). A client that leaves closes the response, but
   * a refresh it started still writes to the store, which a reload must not
   * close before that work has settled.
   */
  private holds = 1;

  constructor(
    readonly req: IncomingMessage,
    private readonly res: ServerResponse,
    private readonly env: HandlerEnv,
    private readonly state: GatewayState,
  ) {
    const inbound = req.headers['x-request-id'];
    this.requestId = typeof inbound === 'string' && SANE_REQUEST_ID.test(inbound) ? inbound : randomUUID();
  }

  /**
   * Runs the request, and answers 500 `GH_INTERNAL` (logged) for anything it throws: a throw
   * here would escape into node:http, where nothing catches it and the process exits, taking
   * every other request with it. Node's writeHead, for one, throws on a header value it refuses.
   */
  start(): void {
    try {
      this.run();
    } catch (err) {
      this.onUnexpected(err);
    }
  }

  private run(): void {
    this.begun = true;
    const { req, state } = this;
    const url = req.url as string;
    if (url.length > state.maxUrlLength) return this.fail(new GatehouseError('GH_URI_TOO_LONG', 'the request target is too long'));
    const badHost = hostHeaderError(req);
    if (badHost !== undefined) return this.fail(badHost);
    const q = url.indexOf('?');
    try {
      this.path = normalizePath(q < 0 ? url : url.slice(0, q));
    } catch (err) {
      return this.fail(asGatehouseError(err));
    }
    this.query = q < 0 ? '' : url.slice(q);
    const endpoints = state.sessionEndpoints;
    if (endpoints !== undefined && endpoints.matches(this.path)) {
      this.authOutcome = 'session-endpoint';
      if (this.endsConnection) this.res.shouldKeepAlive = false;
      if (awaitsContinue(req)) this.res.writeContinue();
      this.holds++;
      endpoints
        .handle(req, this.res, this.path, this.query, {
          logger: this.env.logger,
          requestId: this.requestId,
          realm: this.state.realm,
          hsts: this.env.hsts,
          host: requestedHost(req.headers, state.trusted.isTrusted(req.socket.remoteAddress)),
        })
        .catch((err: unknown) => this.onUnexpected(err))
        .finally(() => this.release());
      return;
    }
    const route = state.router.match(req.headers.host, this.path);
    if (route === undefined) return this.fail(new GatehouseError('GH_ROUTE_NOT_FOUND', 'no route matches this request'));
    this.route = route;
    if (route.methods !== undefined) {
      if (!route.methods.has(req.method as string)) {
        return this.fail(new GatehouseError('GH_METHOD_NOT_ALLOWED', 'this route does not accept the method'));
      }
      // Express's method-override (and Laravel, Rails forms) would run another method upstream.
      if (this.query.length > 1 && hasMethodOverrideParam(this.query)) {
        return this.fail(new GatehouseError('GH_BAD_REQUEST', 'a _method parameter is not accepted on a route that restricts methods'));
      }
    }
    const transferEncoding = req.headers['transfer-encoding'];
    if (transferEncoding !== undefined && !isChunkedAlone(transferEncoding)) {
      return this.fail(new GatehouseError('GH_CODING_NOT_IMPLEMENTED', 'only the chunked transfer coding is accepted'));
    }
    const contentLength = req.headers['content-length'];
    if (contentLength !== undefined && Number(contentLength) > route.maxBodyBytes) {
      return this.fail(new GatehouseError('GH_BODY_TOO_LARGE', 'request body exceeds the limit of this route'));
    }
    if (route.authenticators.length === 0) {
      this.authOutcome = 'public';
      return this.forward(route);
    }
    // A token already verified is decided here, without a promise; only real verification waits.
    let resumeAt: number | GatehouseError;
    try {
      resumeAt = runPipelineSync(route, this);
    } catch (err) {
      return this.refuse(route, err);
    }
    if (resumeAt instanceof GatehouseError) return this.refuse(route, resumeAt);
    if (resumeAt >= 0) {
      this.holds++;
      this.authorizeAsync(route, resumeAt)
        .catch((err: unknown) => this.onUnexpected(err))
        .finally(() => this.release());
      return;
    }
    this.admit(route);
  }

  private async authorizeAsync(route: CompiledRoute, resumeAt: number): Promise<void> {
    try {
      await resumePipeline(route, this, resumeAt);
    } catch (err) {
      return this.refuse(route, err);
    }
    if (this.res.destroyed) return; // the client left while we verified
    this.admit(route);
  }

  private refuse(route: CompiledRoute, err: unknown): void {
    const e = asGatehouseError(err);
    this.authOutcome = e.code;
    route.metrics.authOutcome(e.code);
    this.fail(e);
  }

  private admit(route: CompiledRoute): void {
    this.authOutcome = this.identity === undefined ? 'anonymous' : 'ok';
    route.metrics.authOutcome(this.authOutcome);
    this.forward(route);
  }

  private forward(route: CompiledRoute): void {
    const { req, env } = this;
    // No upstream sees the gateway's own cookies (every one of them is in the `__Host-gh_` namespace),
    // whatever the route's auth, and without a `sessions` section too: browsers keep the cookies of
    // one that was removed (session ids, sealed tokens).
    stripGatewayCookies(req.headers);
    const peer = req.socket.remoteAddress;
    // Admitted anonymously on a route that authenticates (`[session, none]`): the gateway vouched for
    // no credential, so none goes upstream, where a client's own Bearer would pass for one it had checked.
    const dropAuthorization = route.dropAuthorization || (this.identity === undefined && route.authenticators.length > 0);
    const headers = buildUpstreamHeaders(req.headers, route.stripper, dropAuthorization, {
      peer,
      trusted: this.state.trusted.isTrusted(peer),
      proto: env.proto,
      requestId: this.requestId,
    });
    if (this.identity !== undefined && route.identityHeaders !== undefined) route.identityHeaders(this.identity, headers);
    const extra = env.hsts ? ['x-request-id', this.requestId, 'strict-transport-security', env.hsts] : ['x-request-id', this.requestId];
    let setsCookie = false;
    if (this.responseHeaders !== undefined) {
      extra.push(...this.responseHeaders);
      setsCookie = hasSetCookie(this.responseHeaders);
    }
    // The body is wanted now that the request is admitted (undici cannot pass Expect on to the upstream).
    if (awaitsContinue(req)) this.res.writeContinue();
    this.upstream = forwardRequest(
      req,
      this.res,
      {
        upstream: route.upstream,
        path: route.basePath + this.path + this.query,
        headers,
        timeoutMs: route.timeoutMs,
        sendTimeoutMs: route.sendTimeoutMs,
        maxBodyBytes: route.maxBodyBytes,
        extraResponseHeaders: extra,
        setsCookie,
      },
      this,
    );
  }

  upstreamDone(): void {
    this.upstream = undefined;
  }

  upstreamFailed(kind: UpstreamFailureKind, err: GatehouseError | undefined): void {
    this.upstream = undefined;
    if (kind !== 'aborted') this.route?.metrics.upstreamError(kind);
    // A body undici began to read is neither drained by Node nor parsed past: the connection could
    // carry no further request, and must not promise to.
    if (err) this.fail(err, !this.req.complete);
  }

  private fail(err: GatehouseError, bodyHandedOver = false): void {
    if (this.res.destroyed) return;
    const close = bodyHandedOver || closesAfterRefusal(this.req, err.status);
    // The response keeps its socket until it is written; the request may have been unhooked
    // from it already (a body stream that was destroyed).
    const socket = this.res.socket ?? this.req.socket;
    if (close && socket) closingConnections.add(socket);
    if (this.endsConnection) this.res.shouldKeepAlive = false;
    // Set-Cookie (cleared session) and Location (login redirect) from the pipeline go out with the error.
    sendError(
      this.res,
      err,
      {
        realm: this.state.realm,
        requestId: this.requestId,
        hsts: this.env.hsts,
        allow: err.code === 'GH_METHOD_NOT_ALLOWED' ? this.route?.allow : undefined,
        close,
      },
      this.responseHeaders,
    );
  }

  private release(): void {
    if (--this.holds === 0) this.state.traffic.ended();
  }

  // A method, not a per-request closure: only the asynchronous paths need one, and make it there.
  private onUnexpected(err: unknown): void {
    this.env.logger.error({ err, requestId: this.requestId }, 'request handling failed');
    try {
      // A fault while answering an error (writeHead refusing a header value) arrives here as
      // GH_INTERNAL, whose answer carries no challenge: it can be written.
      this.fail(asGatehouseError(err));
    } catch (again) {
      this.env.logger.error({ err: again, requestId: this.requestId }, 'error response failed');
      this.res.destroy();
    }
  }

  /**
   * Whether this answer ends its connection (`Connection: close`): once shutdown began, a keep-alive
   * client would go on sending here and hold the drain open to its timeout; told to close, it takes
   * its next request elsewhere. Not while requests it pipelined wait behind this one: they were
   * parsed, and are answered first (the last of them closes).
   */
  get endsConnection(): boolean {
    return this.env.draining && !hasWaiting(this.req.socket);
  }

  readonly onClose = (): void => {
    if (this.upstream !== undefined) this.upstream.abort();
    this.release();
    const seconds = (performance.now() - this.startedAt) / 1000;
    const res = this.res;
    // 499 (nginx's convention): the connection closed before the response was complete.
    const status = res.writableFinished ? res.statusCode : 499;
    (this.route?.metrics ?? this.state.unroutedMetrics).request(status, seconds);
    // The entry is built only when it will be written.
    if (!this.env.logger.isLevelEnabled('info')) return;
    this.env.accessLog({
      requestId: this.requestId,
      method: this.req.method as string,
      path: this.begun ? loggablePath(this.path) : '(not started)',
      route: this.route?.name,
      status,
      durationMs: Math.round(seconds * 1e6) / 1e3,
      auth: this.authOutcome,
    });
  };
}
