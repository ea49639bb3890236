import { hash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { GatewayMetrics } from '../../admin/metrics.js';
import { isSafeEndpointUrl } from '../../loopback.js';
import type { IntrospectionConfig } from '../../config/schema.js';
import { GatehouseError } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { Identity } from '../identity.js';
import { discoverIntrospectionEndpoint } from './discovery.js';
import { askEndpoint, type EndpointCall } from './ask.js';
import { basicAuthorization, createDispatcher } from './http.js';
import { networkCode, resultOf, unavailable, type RequestResult } from './failure.js';
import { createConcurrencyLimit, SlotRefused } from './limit.js';
import type { IntrospectionOutcome } from './response.js';
import { timerDelay } from '../../timers.js';

/** Checks opaque access tokens at an RFC 7662 endpoint, with a bounded cache. */
export interface IntrospectionClient {
  /**
   * Resolves to the identity of an active token. Throws GatehouseError:
   * GH_TOKEN_INACTIVE / GH_TOKEN_INVALID / GH_TOKEN_EXPIRED / GH_TOKEN_MALFORMED (401)
   * for a token the server refused, GH_INTROSPECTION_UNAVAILABLE (503) when the
   * endpoint cannot answer and no cached answer exists.
   */
  introspect(token: string): Promise<Identity>;
  /**
   * The cached answer, without waiting: the identity, or throws the cached
   * refusal; `undefined` when nothing is cached and {@link introspect} must ask.
   */
  introspectCached(token: string): Identity | undefined;
  /** Number of cached answers (active and refused). */
  readonly cacheSize: number;
  /**
   * Discovers the endpoint ahead of the first request (when only `issuer` is
   * configured). Never rejects: a failure is retried by the first lookup.
   */
  prefetch(): Promise<void>;
  close(): Promise<void>;
}

export interface IntrospectionClientOptions {
  /** Epoch milliseconds; injected by tests to move through cache lifetimes. */
  readonly now?: () => number;
  readonly metrics?: GatewayMetrics;
  readonly logger?: Logger;
}

/** An answer and when its question was sent (epoch ms). */
interface Asked {
  readonly outcome: IntrospectionOutcome;
  readonly askedAt: number;
}

interface CacheEntry {
  readonly outcome: IntrospectionOutcome;
  /** Epoch ms after which the answer must be asked again. */
  readonly until: number;
  /** When its question was sent (epoch ms): an older answer arriving later does not replace it. */
  readonly askedAt: number;
}

/** A question to the endpoint: when it was sent (epoch ms), unset while it waits for a slot or the endpoint's discovery. */
interface Question {
  sentAt?: number;
}

/** An exchange in flight, which lookups of the same token may join. */
interface InFlight {
  readonly question: Question;
  readonly outcome: Promise<IntrospectionOutcome>;
}

// RFC 6750 b64token; anything else cannot be a bearer token and is not worth a round trip.
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;
const MAX_TOKEN_LENGTH = 8192;
const WARN_INTERVAL_MS = 5000;
/** Refusals get their own LRU, this fraction of `cacheMaxEntries` (at least one entry). */
const REFUSAL_CACHE_SHARE = 0.1;

/** `shared`, unless `deadline` aborts first: then a timeout, while `shared` runs on for the others awaiting it. */
function withinDeadline<T>(shared: Promise<T>, deadline: AbortSignal): Promise<T> {
  const timedOut = () => unavailable('timed out waiting for the endpoint\'s discovery', 'timeout');
  if (deadline.aborted) return Promise.reject(timedOut());
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(timedOut());
    deadline.addEventListener('abort', onAbort, { once: true });
    shared.then(
      (value) => {
        deadline.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        deadline.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}

/**
 * An RFC 7662 client for one authorization server: form POST with
 * `token_type_hint=access_token`, `client_secret_basic`, a deadline per lookup and a size
 * cap per exchange, strict reading of the answer, and a bounded cache keyed by a
 * SHA-256 of the token (active answers until min(`exp`, `cacheMaxAge`), refused
 * ones for `inactiveCacheMaxAge` in a smaller LRU of their own, failures never).
 * At most `maxConcurrentRequests` exchanges run at once and as many wait; beyond
 * that a lookup fails at once with 503.
 *
 * @example
 * const client = createIntrospectionClient(config.security.introspection);
 * const identity = await client.introspect(bearer); // throws GatehouseError (401 or 503)
 * await client.close();
 */
export function createIntrospectionClient(cfg: IntrospectionConfig, opts: IntrospectionClientOptions = {}): IntrospectionClient {
  const now = opts.now ?? Date.now;
  const dispatcher = createDispatcher(cfg.maxConcurrentRequests);
  const endpointCall: EndpointCall = {
    dispatcher,
    authorization: basicAuthorization(cfg.clientId, cfg.clientSecret),
    maxBytes: cfg.maxResponseBytes,
    expect: {
      issuer: cfg.issuer,
      fallbackIssuer: cfg.issuer ?? new URL(cfg.endpoint as string).origin,
      audiences: Array.isArray(cfg.audience) ? cfg.audience : [cfg.audience],
      clockSkewSeconds: cfg.clockSkew,
    },
    now,
  };
  const cache = cfg.cacheMaxEntries > 0 ? new LRUCache<string, CacheEntry>({ max: cfg.cacheMaxEntries }) : undefined;
  // Refusals apart: a flood of made-up tokens (each one a refusal) must not evict the active
  // answers of real callers, which would then all have to ask the endpoint again.
  const refusals =
    cfg.cacheMaxEntries > 0
      ? new LRUCache<string, CacheEntry>({ max: Math.max(1, Math.ceil(cfg.cacheMaxEntries * REFUSAL_CACHE_SHARE)) })
      : undefined;
  // Each distinct unknown token costs an exchange: bound them, with a short queue that fails fast.
  const limit = createConcurrencyLimit(cfg.maxConcurrentRequests, cfg.maxConcurrentRequests);
  // Concurrent lookups of one token share one request, while its answer is fresh enough (see mayJoin).
  const inflight = new Map<string, InFlight>();
  let endpoint: Promise<string> | undefined = cfg.endpoint === undefined ? undefined : Promise.resolve(cfg.endpoint);
  // The endpoint once known, so a lookup need not wait on a promise for it.
  let knownEndpoint: string | undefined = cfg.endpoint;
  let lastWarnAt = -Infinity;
  // Plain counts, folded into the metrics at scrape time: a lookup happens on every request.
  const lookups = opts.metrics?.cacheTally('introspection');
  // The key of the last miss: `introspect` follows an `introspectCached` miss with the same token.
  let missToken: string | undefined;
  let missKey: string | undefined;

  /**
   * The endpoint, discovered once, within timeoutMs of its own: lookups arriving meanwhile
   * share it, and each waits for it only within its own deadline (see {@link ask}). Run under
   * the deadline of the lookup that started it, a discovery begun late in a queued lookup's
   * time would fail every lookup sharing it.
   */
  function resolveEndpoint(): Promise<string> {
    if (!endpoint) {
      const found = discoverIntrospectionEndpoint(dispatcher, cfg.issuer as string, {
        deadline: AbortSignal.timeout(timerDelay(cfg.timeoutMs)),
        maxBytes: cfg.maxResponseBytes,
        isAllowedUrl: isSafeEndpointUrl,
      });
      // A failed discovery is retried by the next lookup rather than remembered.
      found.then(
        (url) => (knownEndpoint = url),
        () => {
          if (endpoint === found) endpoint = undefined;
        },
      );
      endpoint = found;
    }
    return endpoint;
  }

  function warn(err: unknown): void {
    // One line per interval: an outage must not turn into a log flood.
    if (!opts.logger || now() - lastWarnAt < WARN_INTERVAL_MS) return;
    lastWarnAt = now();
    const cause = err instanceof Error ? err.cause : undefined;
    const code = networkCode(cause);
    opts.logger.warn(
      { reason: cause instanceof Error ? cause.message : String(cause ?? err), ...(code === undefined ? {} : { code }) },
      'token introspection unavailable',
    );
  }

  const count = (result: RequestResult): void => opts.metrics?.introspectionRequests.inc({ result });

  /**
   * One lookup at the endpoint, counted by how it ended. One deadline (timeoutMs) covers
   * the wait for a slot, the discovery of the endpoint when it is not known yet, and the
   * exchange with its one retry. Resolves with the time the question was sent: the answer
   * holds as of then, so its cache lifetime counts from then, not from its arrival.
   */
  async function ask(token: string, question: Question): Promise<Asked> {
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(), timerDelay(cfg.timeoutMs));
    timer.unref();
    let release: (() => void) | undefined;
    let discovering = false;
    try {
      // The slot comes first, so lookups waiting for discovery count against the bound too.
      release = await takeSlot(deadline.signal);
      discovering = true;
      const url = knownEndpoint ?? (await withinDeadline(resolveEndpoint(), deadline.signal));
      discovering = false;
      const askedAt = now();
      question.sentAt = askedAt;
      const outcome = await askEndpoint(endpointCall, url, token, deadline.signal);
      count(outcome.active ? 'active' : 'refused');
      return { outcome, askedAt };
    } catch (err) {
      count(discovering ? 'discovery_failed' : resultOf(err));
      throw err;
    } finally {
      release?.();
      clearTimeout(timer);
    }
  }

  async function takeSlot(deadline: AbortSignal): Promise<() => void> {
    try {
      return await limit.acquire(deadline);
    } catch (err) {
      if (!(err instanceof SlotRefused)) throw err;
      throw err.reason === 'overloaded'
        ? unavailable(`overloaded: ${limit.inFlight} requests in flight and ${limit.queued} waiting (maxConcurrentRequests)`, 'overloaded', err)
        : unavailable('timed out waiting for a free request slot', 'timeout', err);
    }
  }

  function remember(key: string, { outcome, askedAt }: Asked): void {
    if (!cache || !refusals) return;
    // Two exchanges for one token can overlap (see mayJoin): the answer to the later question stands.
    if ((cache.peek(key)?.askedAt ?? -Infinity) > askedAt || (refusals.peek(key)?.askedAt ?? -Infinity) > askedAt) return;
    const t = now();
    if (outcome.active) {
      refusals.delete(key);
      const until = Math.min(askedAt + cfg.cacheMaxAge * 1000, outcome.identity.expiresAt * 1000);
      if (until > t) cache.set(key, { outcome, until, askedAt });
    } else {
      cache.delete(key);
      const until = askedAt + cfg.inactiveCacheMaxAge * 1000;
      if (until > t) refusals.set(key, { outcome, until, askedAt });
    }
  }

  /**
   * Whether a lookup arriving now may take the answer of an exchange in flight: only while its
   * question is younger than cacheMaxAge, as a cached answer is, or not sent yet (its answer will
   * be newer than this lookup). A slow answer to an older question could otherwise let a token
   * revoked since pass later than the revocation bound promises (with cacheMaxAge 0, a second late).
   */
  function mayJoin(exchange: InFlight): boolean {
    const { sentAt } = exchange.question;
    return sentAt === undefined || now() - sentAt < cfg.cacheMaxAge * 1000;
  }

  function settle(outcome: IntrospectionOutcome): Identity {
    if (outcome.active) return outcome.identity;
    throw new GatehouseError(outcome.code, outcome.message);
  }

  /** The cached outcome of the token with this key, or undefined (a miss is counted by the caller). */
  function cached(key: string): IntrospectionOutcome | undefined {
    const t = now();
    let hit = cache?.get(key);
    if (hit === undefined || hit.until <= t) hit = refusals?.get(key);
    if (hit === undefined || hit.until <= t) return undefined;
    if (lookups) lookups.hit++;
    return hit.outcome;
  }

  function checkSize(token: string): void {
    // Only the size here: the cache holds nothing but tokens that passed the syntax check below.
    if (token.length === 0 || token.length > MAX_TOKEN_LENGTH) throw new GatehouseError('GH_TOKEN_MALFORMED', 'malformed bearer token');
  }

  return {
    introspectCached(token) {
      // Never cached, and left to introspect (which refuses it, 401): a miss lets the pipeline's
      // syntax check run first, so a long value that is not even token68 is a 400, as a short one is.
      if (token.length > MAX_TOKEN_LENGTH) return undefined;
      checkSize(token);
      if (!cache) return undefined;
      const key = hash('sha256', token, 'base64url');
      const outcome = cached(key);
      if (outcome !== undefined) return settle(outcome);
      missToken = token;
      missKey = key;
      return undefined;
    },
    async introspect(token) {
      checkSize(token);
      let key: string;
      if (missToken !== undefined && token === missToken) {
        key = missKey as string;
        missToken = missKey = undefined;
      } else {
        key = hash('sha256', token, 'base64url');
        const outcome = cached(key);
        if (outcome !== undefined) return settle(outcome);
      }
      if (!B64TOKEN.test(token)) throw new GatehouseError('GH_TOKEN_MALFORMED', 'malformed bearer token');
      if (lookups) lookups.miss++;
      let exchange = inflight.get(key);
      if (exchange === undefined || !mayJoin(exchange)) {
        // Asked again: the older exchange runs on for the lookups that joined it (the concurrency limit counts both).
        const question: Question = {};
        const outcome = ask(token, question).then(
          (asked) => {
            remember(key, asked);
            return asked.outcome;
          },
          (err: unknown) => {
            warn(err);
            throw err;
          },
        );
        const started: InFlight = { question, outcome };
        const settled = outcome.finally(() => {
          if (inflight.get(key) === started) inflight.delete(key);
        });
        settled.catch(() => undefined);
        inflight.set(key, started);
        exchange = started;
      }
      return settle(await exchange.outcome);
    },
    get cacheSize() {
      return (cache?.size ?? 0) + (refusals?.size ?? 0);
    },
    prefetch() {
      return resolveEndpoint().then(
        () => undefined,
        (err: unknown) => warn(err),
      );
    },
    async close() {
      await dispatcher.close();
    },
  };
}
