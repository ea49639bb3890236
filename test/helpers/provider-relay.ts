import { createServer, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './ports.js';

// A real HTTP hop in front of the authorization service, for tests that need the
// provider slow, failing, unreachable or answering differently. The service's
// issuer is the relay's URL, so its discovery document names the relay for every
// endpoint and each call of the gateway (discovery, token, revocation, JWKS) and
// of the browser crosses it: what a test makes the relay do, the gateway meets
// on a real socket.

/** One request the relay received. */
export interface RelayedRequest {
  readonly method: string;
  /** Path and query. */
  readonly path: string;
  /** `grant_type` of a form body (token endpoint calls), else undefined. */
  readonly grantType: string | undefined;
}

/** What became of a request, once settled. */
export type RelayOutcome =
  /** The provider's answer went back (perhaps rewritten, delayed or held first). */
  | 'forwarded'
  /** The relay answered itself; the provider never saw the request. */
  | 'answered'
  /** The relay reset the connection; the provider never saw the request. */
  | 'reset'
  /** The provider could not be reached: the relay reset the connection. */
  | 'unreachable'
  /** The client left before its answer was sent (its own timeout). */
  | 'abandoned';

/** A request and what became of it. */
export interface RelayExchange extends RelayedRequest {
  outcome: RelayOutcome | 'pending';
  /** Status and body sent back (or, when abandoned after forwarding, the provider's answer that never arrived). */
  status?: number;
  body?: string;
}

/** What the relay does with a request a rule matches. Without a rule it forwards. */
export type RelayAction =
  /** Forwards; the provider's answer waits `ms` before it is sent on. */
  | { readonly do: 'delay'; readonly ms: number }
  /** Not forwarded while held: the request waits until `release()` or the client gives up (a provider that hangs). */
  | { readonly do: 'hold-request' }
  /** Forwarded and handled by the provider in full; its answer waits until `release()` or the client gives up (an answer that comes too late). */
  | { readonly do: 'hold-answer' }
  /** Not forwarded: the relay answers itself (a proxy's error page, say). */
  | { readonly do: 'answer'; readonly status: number; readonly contentType: string; readonly body: string }
  /** Not forwarded: the connection is reset (TCP RST). */
  | { readonly do: 'reset' }
  /** Forwarded; the provider's JSON answer is replaced by `rewrite(answer)`. */
  | { readonly do: 'rewrite'; readonly rewrite: (json: Record<string, unknown>) => Record<string, unknown> };

/**
 * Longest a request is held. A client that never gives up then meets a reset
 * (outcome `reset`), so its test fails instead of hanging.
 */
const MAX_HOLD_MS = 20_000;

/** A rule added with {@link ProviderRelay.when}. */
export interface RelayRule {
  /** Requests this rule has matched so far. */
  readonly matched: number;
  /** Stops matching, and lets the requests it holds go on (a delay already begun runs out). */
  release(): void;
}

export interface ProviderRelay {
  /** `http://127.0.0.1:<port>`: the issuer the provider is configured with. */
  readonly url: string;
  /** Every request so far, in arrival order. */
  exchanges(): readonly RelayExchange[];
  /**
   * Resolves once every request so far has settled: a client that gave up
   * (a timeout) closes its connection a moment after its caller has moved on.
   */
  settled(): Promise<void>;
  /** Token-endpoint requests with this grant type so far, whatever became of them. */
  count(grantType: string): number;
  /** The JSON answers the provider gave to requests with this grant type that reached their client, in order. */
  answers(grantType: string): Record<string, unknown>[];
  /**
   * Applies `action` to each request matching `match` (a grant type, or a
   * predicate) until the rule is released or the relay closes. The most
   * recent matching rule wins.
   */
  when(match: string | ((req: RelayedRequest) => boolean), action: RelayAction): RelayRule;
  /**
   * Closes the listener and every open connection: new connections are
   * refused (ECONNREFUSED) until {@link admit}. The port stays reserved.
   */
  refuse(): Promise<void>;
  /** Listens again on the same port. */
  admit(): Promise<void>;
  close(): Promise<void>;
}

// Hop-by-hop fields, and the length, which the relay sets for the body it sends.
const NOT_FORWARDED = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'content-length']);

interface Rule {
  readonly matches: (req: RelayedRequest) => boolean;
  readonly action: RelayAction;
  matched: number;
  active: boolean;
  /** Wakes the requests this rule holds. */
  readonly waiters: Set<() => void>;
}

/**
 * Starts a relay on 127.0.0.1 forwarding every request to `target` (the
 * service's own listen URL). The port is reserved (see `ports.ts`), so the
 * relay can stop listening and start again on it.
 *
 * @example
 * const relay = await startProviderRelay('http://127.0.0.1:8081');
 * const late = relay.when('refresh_token', { do: 'hold-answer' });
 * // … the gateway's refresh times out; the provider did rotate …
 * late.release();
 */
export async function startProviderRelay(target: string, port?: number): Promise<ProviderRelay> {
  const relayPort = port ?? (await freePort());
  const url = `http://127.0.0.1:${relayPort}`;
  const log: RelayExchange[] = [];
  const rules: Rule[] = [];
  const inFlight = new Set<Promise<void>>();

  const server = createServer((req, res) => {
    res.on('error', () => undefined); // a client gone mid-answer
    const handled = handle(req, res).catch(() => {
      req.socket.destroy();
    });
    inFlight.add(handled);
    void handled.finally(() => inFlight.delete(handled));
  });
  // Forwarded calls may be held for as long as a test wants.
  server.requestTimeout = 0;
  server.headersTimeout = 0;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readAll(req);
    const seen: RelayedRequest = { method: req.method ?? 'GET', path: req.url ?? '/', grantType: grantTypeOf(req.headers, body) };
    const exchange: RelayExchange = { ...seen, outcome: 'pending' };
    log.push(exchange);
    const rule = rules.findLast((r) => r.active && r.matches(seen));
    if (rule) rule.matched++;
    const action = rule?.action;
    // Resolves when the client closes the connection before its answer is sent.
    let left = false;
    const gone = new Promise<void>((resolve) =>
      res.once('close', () => {
        left = !res.writableFinished;
        resolve();
      }),
    );
    /** Holds until the rule is released or the client leaves; false when held too long (the connection is then reset). */
    const hold = async (): Promise<boolean> => {
      if (!rule?.active) return true;
      let wake = () => undefined as void;
      const released = new Promise<void>((resolve) => (wake = resolve));
      rule.waiters.add(wake);
      const cap = new AbortController();
      const expired = await Promise.race([released.then(() => false), gone.then(() => false), sleep(MAX_HOLD_MS, true, { signal: cap.signal }).catch(() => false)]);
      cap.abort();
      rule.waiters.delete(wake);
      if (expired && !left) {
        exchange.outcome = 'reset';
        req.socket.resetAndDestroy();
        return false;
      }
      return true;
    };

    if (action?.do === 'reset') {
      exchange.outcome = 'reset';
      req.socket.resetAndDestroy();
      return;
    }
    if (action?.do === 'answer') {
      exchange.outcome = 'answered';
      send(res, exchange, action.status, { 'content-type': action.contentType }, action.body);
      return;
    }
    if (action?.do === 'hold-request') {
      if (!(await hold())) return;
      if (left) {
        exchange.outcome = 'abandoned';
        return;
      }
    }
    let answer: { status: number; headers: IncomingHttpHeaders; body: Buffer };
    try {
      answer = await forward(target, req, body);
    } catch {
      // As close as a relay comes to passing a refused connection on.
      exchange.outcome = 'unreachable';
      if (!req.socket.destroyed) req.socket.resetAndDestroy();
      return;
    }
    let out = answer.body;
    if (action?.do === 'rewrite') out = Buffer.from(JSON.stringify(action.rewrite(JSON.parse(out.toString('utf8')) as Record<string, unknown>)));
    if (action?.do === 'delay') await Promise.race([sleep(action.ms), gone]);
    if (action?.do === 'hold-answer' && !(await hold())) return;
    if (left) {
      exchange.outcome = 'abandoned';
      exchange.status = answer.status;
      exchange.body = out.toString('utf8');
      return;
    }
    exchange.outcome = 'forwarded';
    send(res, exchange, answer.status, answer.headers, out);
  }

  const listen = () =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(relayPort, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
  const stop = () =>
    new Promise<void>((resolve) => {
      if (!server.listening) return resolve();
      server.close(() => resolve());
      server.closeAllConnections();
    });
  await listen();

  return {
    url,
    exchanges: () => log,
    async settled() {
      while (inFlight.size > 0) await Promise.all(inFlight);
    },
    count: (grantType) => log.filter((e) => e.grantType === grantType).length,
    answers: (grantType) => log.filter((e) => e.grantType === grantType && e.outcome === 'forwarded').map((e) => JSON.parse(e.body ?? 'null') as Record<string, unknown>),
    when(match, action) {
      const rule: Rule = { matches: typeof match === 'string' ? (r) => r.grantType === match : match, action, matched: 0, active: true, waiters: new Set() };
      rules.push(rule);
      return {
        get matched() {
          return rule.matched;
        },
        release() {
          rule.active = false;
          for (const wake of rule.waiters) wake();
        },
      };
    },
    refuse: stop,
    admit: listen,
    async close() {
      for (const rule of rules) rule.active = false;
      await stop();
    },
  };
}

function send(res: ServerResponse, exchange: RelayExchange, status: number, headers: IncomingHttpHeaders, body: Buffer | string): void {
  const kept = Object.fromEntries(Object.entries(headers).filter(([k, v]) => v !== undefined && !NOT_FORWARDED.has(k.toLowerCase())));
  exchange.status = status;
  exchange.body = String(body);
  res.writeHead(status, { ...kept, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/** One request to the provider on a connection of its own (a pooled one could be stale after a restart). */
function forward(target: string, req: IncomingMessage, body: Buffer): Promise<{ status: number; headers: IncomingHttpHeaders; body: Buffer }> {
  const headers = Object.fromEntries(Object.entries(req.headers).filter(([k]) => !NOT_FORWARDED.has(k)));
  return new Promise((resolve, reject) => {
    const out = httpRequest(new URL(req.url ?? '/', target), { method: req.method, headers: { ...headers, 'content-length': body.length }, agent: false }, (answer) => {
      readAll(answer).then((b) => resolve({ status: answer.statusCode ?? 502, headers: answer.headers, body: b }), reject);
    });
    out.on('error', reject);
    out.end(body);
  });
}

function readAll(stream: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => resolve(Buffer.concat(chunks)));
    stream.on('error', reject);
  });
}

function grantTypeOf(headers: IncomingHttpHeaders, body: Buffer): string | undefined {
  if (!(headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')) return undefined;
  return new URLSearchParams(body.toString('utf8')).get('grant_type') ?? undefined;
}
