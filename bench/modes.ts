import type { BenchAuth } from './fixtures/auth.js';
import { BENCH_AUDIENCE, BENCH_ISSUER, BENCH_SCOPE, type Fixtures, type TokenSetRequest } from './fixtures/fixtures.js';
import type { BenchAlg } from './fixtures/jwt-sign.js';
import { BENCH_REDIS_URL, makeBenchSessions, type BenchSessionKind, type BenchSessions } from './fixtures/sessions.js';
import { opaqueMode } from './modes-opaque.js';
import type { PeerAuth } from './targets/child.js';

/**
 * The servers a mode loads. `bare` is the ceiling every ratio is taken against;
 * `floor` (only in modes with a {@link ModeSpec.floorKeyFile}) is the bare proxy
 * plus one signature check per request, the most a verifying gateway can reach.
 * `baseline` (only with `--baseline DIR`) is the gateway of another build, with
 * the same config, loaded in the same rounds.
 */
export const TARGET_KINDS = ['bare', 'floor', 'gateway', 'baseline', 'express', 'fastify'] as const;
export type TargetKind = (typeof TARGET_KINDS)[number];
export type PeerKind = 'express' | 'fastify';

export interface ModeContext {
  readonly fixtures: Fixtures;
  readonly upstreamUrl: string;
  /** Gateway log level for the bench (access logs are off by default, as for the peers). */
  readonly gatewayLogLevel: string;
  /**
   * The authorization service for gateway modes that need one (started on first
   * use, pinned beside the upstream on the load core, stopped at the end of the run).
   */
  authService(): Promise<BenchAuth>;
}

/** Where each request's credential comes from: one value per line, sent in rotation. */
export interface CredentialSource {
  readonly valuesFile: string;
  readonly count: number;
  /** Header carrying the value; empty for none. */
  readonly header: string;
  readonly prefix: string;
  /** The first value, for the correctness probe before loading. */
  readonly first: string;
}

/**
 * One bench mode: what each target is configured with and what the load sends.
 * A new mode (opaque tokens, session cookies, …) is one more entry: its gateway
 * config, its peers' setup (or why a peer cannot do it), and its credentials.
 */
export interface ModeSpec {
  readonly id: string;
  /** `--modes` selects by group (`d` selects `d-es256` and `d-eddsa`) or by id. */
  readonly group: string;
  readonly title: string;
  readonly path: string;
  /** Status every response must have (checked before loading, and counted during it). */
  readonly expectStatus: 200 | 401;
  /** Target: median gateway req/s ÷ median bare-proxy req/s. */
  readonly minRatioVsBare: number;
  /** Target: median gateway req/s ÷ median peer req/s, for each peer. */
  readonly minRatioVsPeer: number;
  credentials(ctx: ModeContext): Promise<CredentialSource>;
  /** The gateway config (the YAML file's content) for this mode. */
  gatewayConfig(ctx: ModeContext, ports: { port: number; adminPort: number }): Promise<Record<string, unknown>>;
  /** Peer setup; a string says why that peer cannot take part in this mode. */
  peer(kind: PeerKind, ctx: ModeContext): PeerAuth | string;
  /**
   * Modes where every request needs a signature check (never-seen tokens, distinct
   * forgeries): the RS256 public key the `floor` target verifies with.
   */
  floorKeyFile?(ctx: ModeContext): string;
  /** Said under the mode's table. */
  readonly notes: readonly string[];
  /** Warm-up goes on until this many passes through the credential list are done (0: just the warm-up time). */
  readonly warmupPasses: number;
  /** Where the credentials come from when they are made anew each run (not signed into the fixture cache). */
  readonly credentialsFrom?: string;
  /** Which of the gateway's token caches (`cache` label: `jwt`, `introspection`) the hit/miss line counts; all when absent. */
  readonly gatewayCache?: string;
  /** Sessions the gateway child loads into its memory store before it starts (a JSON seed file), if any. */
  gatewaySessionSeed?(ctx: ModeContext): Promise<string | undefined>;
}

/** The status every response of `kind` must have in `mode`: the bare proxy checks nothing and forwards every request (200). */
export function expectedStatus(kind: TargetKind, mode: ModeSpec): number {
  return kind === 'bare' ? 200 : mode.expectStatus;
}

export interface ModeOptions {
  /** Size of the never-seen token list for mode (c). */
  readonly freshTokens: number;
  /** The gateway's verified-token cache size (the schema default unless overridden). */
  readonly tokenCacheEntries: number;
}

const ROUTE_PATH = '/api/orders';

/** A gateway config with one JWT issuer (the bench key for `alg`) and one protected route. */
export function jwtGatewayConfig(
  alg: BenchAlg,
  ctx: ModeContext,
  ports: { port: number; adminPort: number },
  tokenCacheEntries: number,
): Record<string, unknown> {
  return {
    listen: { host: '127.0.0.1', port: ports.port },
    admin: { enabled: true, host: '127.0.0.1', port: ports.adminPort },
    security: {
      jwt: { issuer: BENCH_ISSUER, audience: BENCH_AUDIENCE, publicKey: ctx.fixtures.publicKeyFile(alg), algorithms: [alg] },
      tokenCache: { maxEntries: tokenCacheEntries },
    },
    routes: [{ path: ROUTE_PATH, upstream: ctx.upstreamUrl, auth: 'jwt', scopes: [BENCH_SCOPE] }],
    logging: { level: ctx.gatewayLogLevel },
  };
}

function jwtPeer(alg: BenchAlg, kind: PeerKind, ctx: ModeContext): PeerAuth | string {
  if (kind === 'express' && alg === 'EdDSA') return 'express-jwt (jsonwebtoken 9) has no EdDSA';
  return { kind: 'jwt', alg, publicKeyFile: ctx.fixtures.publicKeyFile(alg), issuer: BENCH_ISSUER, audience: BENCH_AUDIENCE, scope: BENCH_SCOPE };
}

function bearerMode(spec: {
  id: string;
  group: string;
  title: string;
  alg: BenchAlg;
  tokens: TokenSetRequest;
  expectStatus: 200 | 401;
  minRatioVsBare: number;
  tokenCacheEntries: number;
  notes?: string[];
  warmupPasses?: number;
  /** Every request needs a signature check: load the `floor` target too. */
  floor?: boolean;
}): ModeSpec {
  return {
    id: spec.id,
    group: spec.group,
    title: spec.title,
    path: `${ROUTE_PATH}/42`,
    expectStatus: spec.expectStatus,
    minRatioVsBare: spec.minRatioVsBare,
    minRatioVsPeer: 2,
    async credentials(ctx) {
      const set = await ctx.fixtures.tokenSet(spec.tokens);
      return { valuesFile: set.file, count: set.count, header: 'Authorization', prefix: 'Bearer ', first: set.first };
    },
    gatewayConfig: async (ctx, ports) => jwtGatewayConfig(spec.alg, ctx, ports, spec.tokenCacheEntries),
    peer: (kind, ctx) => jwtPeer(spec.alg, kind, ctx),
    ...(spec.floor ? { floorKeyFile: (ctx: ModeContext) => ctx.fixtures.publicKeyFile(spec.alg) } : {}),
    notes: spec.notes ?? [],
    warmupPasses: spec.warmupPasses ?? 0,
  };
}

const FLOOR_NOTE =
  'The verify floor is the bare proxy plus one RS256 check per request with node:crypto (no claims, no cache, a bare 401): ' +
  'its ratio to the bare proxy is the most any gateway that checks every signature could reach on this layout.';

const SESSION_COUNT = 1000;

/**
 * A session-cookie mode (issue 4): 1,000 logged-in sessions sent in rotation as
 * `Cookie` headers to a route with `auth: session`; the gateway forwards each
 * with `Authorization: Bearer <access token>`. The tokens stay valid all run
 * (no refresh), and `touchInterval` is an hour so the load client, which keeps
 * no cookies, does not make the stateless gateway re-seal on every request.
 */
function sessionMode(spec: { id: string; kind: BenchSessionKind; title: string; minRatioVsBare: number; notes: string[] }): ModeSpec {
  let made: Promise<BenchSessions> | undefined;
  const sessions = (ctx: ModeContext) => (made ??= makeBenchSessions(spec.kind, SESSION_COUNT, ctx.fixtures.dir));
  return {
    id: spec.id,
    group: 's',
    title: spec.title,
    path: `${ROUTE_PATH}/42`,
    expectStatus: 200,
    minRatioVsBare: spec.minRatioVsBare,
    minRatioVsPeer: 0,
    async credentials(ctx) {
      const s = await sessions(ctx);
      return { valuesFile: s.valuesFile, count: s.count, header: 'Cookie', prefix: '', first: s.first };
    },
    async gatewayConfig(ctx, ports) {
      const s = await sessions(ctx);
      return {
        listen: { host: '127.0.0.1', port: ports.port },
        admin: { enabled: true, host: '127.0.0.1', port: ports.adminPort },
        routes: [{ path: ROUTE_PATH, upstream: ctx.upstreamUrl, auth: 'session', login: 'status' }],
        sessions: {
          mode: spec.kind === 'stateless' ? 'stateless' : 'stateful',
          store: spec.kind === 'redis' ? { kind: 'redis', url: BENCH_REDIS_URL, prefix: s.redisPrefix } : { kind: 'memory' },
          publicUrl: `http://127.0.0.1:${ports.port}`,
          // Never contacted: discovery is lazy and the bench's tokens never need a refresh.
          provider: { issuer: 'http://127.0.0.1:9/bench-idp', clientId: 'bench' },
          keys: [s.key],
          idleTimeout: '12h',
          absoluteTimeout: '24h',
          touchInterval: '1h',
        },
        logging: { level: ctx.gatewayLogLevel },
      };
    },
    async gatewaySessionSeed(ctx) {
      return (await sessions(ctx)).seedFile;
    },
    peer: () => 'no session-cookie equivalent in this peer setup',
    notes: spec.notes,
    warmupPasses: 1,
  };
}

/** The modes of issue 2, in run order, then the session modes of issue 4, then opaque tokens (issue 3). */
export function buildModes(opts: ModeOptions): ModeSpec[] {
  const cache = opts.tokenCacheEntries;
  return [
    bearerMode({
      id: 'a', group: 'a', title: 'one RS256 token repeated', alg: 'RS256', expectStatus: 200, minRatioVsBare: 0.9, tokenCacheEntries: cache,
      tokens: { name: 'single', alg: 'RS256', count: 1 },
    }),
    bearerMode({
      id: 'b', group: 'b', title: '10,000 distinct RS256 tokens in rotation', alg: 'RS256', expectStatus: 200, minRatioVsBare: 0.85,
      // The cache stores a token at its second verification, and its admission filter forgets some records within a
      // 10,000-token rotation: four passes bring every token in (see src/tokens/admission.ts).
      tokenCacheEntries: cache, warmupPasses: 4,
      tokens: { name: 'rotation', alg: 'RS256', count: 10_000 },
      notes: ['Warm-up runs until every token has been sent four times, so the rounds measure the steady state of a rotation that fits the cache.'],
    }),
    bearerMode({
      id: 'c', group: 'c', title: 'RS256 tokens never seen before', alg: 'RS256', expectStatus: 200, minRatioVsBare: 0.6, tokenCacheEntries: cache,
      floor: true,
      tokens: { name: 'fresh', alg: 'RS256', count: opts.freshTokens },
      notes: [
        `${opts.freshTokens.toLocaleString('en')} pre-signed tokens, sent in order (each run continues where the last stopped); a fast machine goes round the list, ` +
          `and a warning below says so. A token comes back only ${opts.freshTokens.toLocaleString('en')} requests after its last use: with the gateway's token cache ` +
          `at ${cache.toLocaleString('en')} entries every lookup misses, so each request pays a full verification, exactly as for a token never seen. ` +
          'The gateway\'s own hit/miss counters are shown to prove it. (The cache stores a token at its second verification: ' +
          'with a list that wraps around within a few windows of the cache, admitted tokens would stay long enough to hit.)',
        FLOOR_NOTE,
        ...(cache >= opts.freshTokens ? ['**The list is not larger than the cache: tokens repeat and can hit; raise --fresh-tokens.**'] : []),
      ],
    }),
    bearerMode({
      id: 'd-es256', group: 'd', title: 'one ES256 token repeated', alg: 'ES256', expectStatus: 200, minRatioVsBare: 0.9, tokenCacheEntries: cache,
      tokens: { name: 'single', alg: 'ES256', count: 1 },
    }),
    bearerMode({
      id: 'd-eddsa', group: 'd', title: 'one EdDSA (Ed25519) token repeated', alg: 'EdDSA', expectStatus: 200, minRatioVsBare: 0.9,
      tokenCacheEntries: cache,
      tokens: { name: 'single', alg: 'EdDSA', count: 1 },
    }),
    bearerMode({
      id: 'e-repeat', group: 'e', title: 'one RS256 token with an invalid signature repeated (401)', alg: 'RS256', expectStatus: 401,
      minRatioVsBare: 1.0, tokenCacheEntries: cache,
      tokens: { name: 'rotation', alg: 'RS256', count: 1, variant: 'bad-signature' },
      notes: ['The same forged token again and again: the gateway may answer from a cache of rejected signatures.'],
    }),
    bearerMode({
      id: 'e-distinct', group: 'e', title: 'distinct RS256 tokens with invalid signatures (401)', alg: 'RS256', expectStatus: 401,
      minRatioVsBare: 1.0, tokenCacheEntries: cache, floor: true,
      // Derived from mode (c)'s list (no extra signing), as long, for the same reason.
      tokens: { name: 'fresh', alg: 'RS256', count: opts.freshTokens, variant: 'bad-signature' },
      notes: [
        `${opts.freshTokens.toLocaleString('en')} tokens, sent in order like (c)'s: each keeps valid claims and carries another token's signature, so every one costs a full RSA verification to reject. ` +
          'The cache of rejected signatures (a quarter of tokenCache.maxEntries, storing a token at its second failure) never answers: the hit/miss line counts its answers as hits.',
        FLOOR_NOTE,
      ],
    }),
    sessionMode({
      id: 's-memory', kind: 'memory', title: '1,000 stateful sessions, memory store', minRatioVsBare: 0.85,
      notes: ['Each request: SHA-256 of the id and a store lookup; the AES-256-GCM record is decrypted once and then served from an in-process cache keyed by its exact ciphertext; the bearer token goes upstream.'],
    }),
    sessionMode({
      id: 's-redis', kind: 'redis', title: '1,000 stateful sessions, Redis store', minRatioVsBare: 0.75,
      notes: ['As s-memory, with one Redis round trip (HMGET) per request to the Redis at 127.0.0.1:6379, which shares the machine\'s cores with everything else.'],
    }),
    sessionMode({
      id: 's-stateless', kind: 'stateless', title: '1,000 stateless sessions (sealed cookies)', minRatioVsBare: 0.85,
      notes: ['Each request: a ~3 KB sealed cookie (JWE dir/A256GCM), decrypted once and then served from a cache keyed by the exact JWE, plus two in-memory lookups (logout marker, per-user cutoff).'],
    }),
    opaqueMode(ROUTE_PATH),
  ];
}

/** Picks modes by id or group (`a,b,d`), keeping run order; throws on an unknown name. */
export function selectModes<T extends { readonly id: string; readonly group: string }>(all: readonly T[], names: readonly string[] | undefined): T[] {
  if (!names || names.length === 0) return [...all];
  for (const name of names) {
    if (!all.some((m) => m.id === name || m.group === name)) {
      throw new Error(`unknown mode "${name}"; known: ${all.map((m) => m.id).join(', ')}`);
    }
  }
  return all.filter((m) => names.includes(m.id) || names.includes(m.group));
}
