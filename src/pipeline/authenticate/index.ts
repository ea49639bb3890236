import type { Config, RouteConfig } from '../../config/schema.js';
import { configuredIssuers } from '../../config/schema.js';
import type { GatewayMetrics } from '../../admin/metrics.js';
import type { Logger } from '../../log.js';
import { createTokenVerifier, type TokenVerifier } from '../../tokens/index.js';
import type { Authenticator } from '../context.js';
import { jwtAuthenticator } from './jwt.js';
import { createIntrospectionKind } from './introspection.js';
import { createSessionKind } from './session.js';
import type { SessionRuntime } from '../../sessions/runtime.js';

/** What an auth kind may use to build itself. */
export interface AuthKindContext {
  readonly config: Config;
  readonly metrics: GatewayMetrics;
  readonly logger: Logger;
  /** Clock in ms, for token expiry and cache lifetimes. */
  readonly now?: () => number;
  /** Directory relative key file paths resolve against. */
  readonly baseDir?: string;
  /** Browser sessions, when `sessions` is configured (owned by the gateway: it outlives reloads). */
  readonly sessions?: SessionRuntime;
  /** The kinds of the configuration a reload replaces, whose unchanged parts (keys, caches) a kind may take over. */
  readonly previous?: AuthKinds;
}

/**
 * One credential kind, built once per configuration and shared by every route
 * that names it (one verifier, one key cache, one token cache).
 */
export interface AuthKind {
  /** The authenticator a route uses; may depend on the route (e.g. which other kinds it accepts). */
  authenticatorFor(route: RouteConfig): Authenticator;
  /** Resolves once the kind's key sources have loaded (never rejects). */
  readonly ready: Promise<void>;
  /**
   * Resolves once every key source the kind opened, rather than took over from `previous`, has
   * keys, a JWKS included (its first fetch, bounded by its timeout); rejects naming the issuer and
   * the reason. A reload waits for it; a start does not wait for a JWKS.
   */
  readonly newKeysLoaded?: Promise<void>;
  isReady(): boolean;
  /** Stops timers and connections; called after a reload swapped it out, and at shutdown. */
  close(): void | Promise<void>;
}

/** Builds a kind; `previous` is the same kind of the configuration a reload replaces. */
export type AuthKindFactory = (ctx: AuthKindContext, previous?: AuthKind) => AuthKind;

/**
 * Every credential kind a route may name in `auth`, except `none` (which means
 * "anonymous is allowed" and needs no authenticator). A new kind is one entry.
 */
export const AUTH_KINDS: Readonly<Record<string, AuthKindFactory>> = {
  jwt: createJwtKind,
  opaque: createIntrospectionKind,
  session: createSessionKind,
};

/** Each jwt kind's verifier, for the kind that replaces it on a reload. */
const jwtVerifiers = new WeakMap<AuthKind, TokenVerifier>();

function createJwtKind(ctx: AuthKindContext, previous?: AuthKind): AuthKind {
  const { metrics } = ctx;
  const lookups = metrics.cacheTally('jwt');
  const verifier = createTokenVerifier(configuredIssuers(ctx.config), {
    cacheMaxEntries: ctx.config.security.tokenCache.maxEntries,
    now: ctx.now,
    baseDir: ctx.baseDir,
    // Unchanged issuers keep their keys across a reload: a JWKS that is down then costs nothing.
    previous: previous && jwtVerifiers.get(previous),
    hooks: {
      onJwksFetch: (issuer, result) => metrics.jwksFetches.inc({ issuer, result }),
      onCacheLookup: (isHit) => {
        if (isHit) lookups.hit++;
        else lookups.miss++;
      },
      // Without this a broken JWKS shows only as 503s and a /readyz that never turns ready, and one
      // that withdrew every key only as 401s.
      onKeySourceError: (issuer, reason) => ctx.logger.warn({ issuer, reason }, 'signing keys unavailable'),
      onKeysSkipped: (issuer, reason) => ctx.logger.warn({ issuer, reason }, 'JWKS keys skipped'),
    },
  });
  const authenticator = jwtAuthenticator(verifier);
  const kind: AuthKind = {
    authenticatorFor: () => authenticator,
    ready: verifier.ready,
    newKeysLoaded: verifier.newKeysLoaded,
    isReady: () => verifier.isReady(),
    close: () => verifier.close(),
  };
  jwtVerifiers.set(kind, verifier);
  return kind;
}

/** The kinds one configuration uses, built once. */
export interface AuthKinds {
  /** Authenticators for a route, in its `auth` order, and whether it admits anonymous callers. */
  forRoute(route: RouteConfig): { authenticators: Authenticator[]; allowAnonymous: boolean };
  readonly ready: Promise<void>;
  /** Rejects when a key source a kind opened brings no keys (a JWKS that is down); see AuthKind.newKeysLoaded. */
  readonly newKeysLoaded: Promise<void>;
  /** The built kind of that name, if the routes use it. */
  kind(name: string): AuthKind | undefined;
  isReady(): boolean;
  close(): Promise<void>;
}

/** The `auth` kinds of a route as a list. */
export function routeAuthKinds(route: RouteConfig): readonly string[] {
  return Array.isArray(route.auth) ? route.auth : [route.auth];
}

/**
 * Builds every kind the routes name (and only those: an unused issuer's keys are
 * not fetched). Throws when a kind cannot be built; nothing is left running then.
 */
export function createAuthKinds(ctx: AuthKindContext): AuthKinds {
  const built = new Map<string, AuthKind>();
  try {
    for (const route of ctx.config.routes) {
      for (const kind of routeAuthKinds(route)) {
        if (kind === 'none' || built.has(kind)) continue;
        const factory = AUTH_KINDS[kind];
        if (!factory) throw new Error(`auth kind ${kind} is not available in this gateway`);
        built.set(kind, factory(ctx, ctx.previous?.kind(kind)));
      }
    }
  } catch (err) {
    for (const k of built.values()) void k.close();
    throw err;
  }
  const kinds = [...built.values()];
  const newKeysLoaded = Promise.all(kinds.map((k) => k.newKeysLoaded)).then(() => undefined);
  newKeysLoaded.catch(() => {}); // observed by the gateway on reload
  return {
    forRoute(route) {
      const authenticators: Authenticator[] = [];
      let allowAnonymous = false;
      for (const kind of routeAuthKinds(route)) {
        if (kind === 'none') allowAnonymous = true;
        else authenticators.push((built.get(kind) as AuthKind).authenticatorFor(route));
      }
      return { authenticators, allowAnonymous };
    },
    ready: Promise.all(kinds.map((k) => k.ready)).then(() => undefined),
    newKeysLoaded,
    kind: (name) => built.get(name),
    isReady: () => kinds.every((k) => k.isReady()),
    close: async () => {
      await Promise.all(kinds.map((k) => k.close()));
    },
  };
}
