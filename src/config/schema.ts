import { z } from 'zod';
import { durationSeconds, parseDurationSeconds } from './duration.js';
import { AuthServiceSchema } from '../auth-service/config-schema.js';
import { CHALLENGE_REALM_RULE, isChallengeRealm, isScopeToken, SCOPE_TOKEN_RULE } from '../errors.js';
import { endpointUrlProblem, isLoopbackAddress } from '../loopback.js';
import { SESSION_ENDPOINTS_PATH, SessionsSchema } from '../sessions/config-schema.js';
import { routeHostProblem } from '../server/host-header.js';
import { normalizePath } from '../server/normalize-path.js';
import { foldedHeaderName } from '../pipeline/propagate/strip-inbound.js';
import { isNeverForwarded, proxyOwnedWithPrefix } from '../server/forwarded-headers.js';
import { routeMatchKey } from '../server/router.js';
import { createTrustedProxies } from '../server/trusted-proxies.js';
import { keySourceProblems } from '../tokens/jwt/key-source-rules.js';
import { jwksIntervalProblem, MAX_CACHE_ENTRIES } from '../tokens/jwt/options.js';

/**
 * The one configuration schema. `load.ts` validates a file against it once and
 * freezes the result; `docs.ts` renders docs/configuration.md from it. Every
 * object is strict: an unknown key is an error, not a silent no-op.
 */

export { durationSeconds, parseDurationSeconds };

export const ASYMMETRIC_ALGORITHMS = [
  'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519',
] as const;
export const HMAC_ALGORITHMS = ['HS256', 'HS384', 'HS512'] as const;
const AlgorithmSchema = z.enum([...ASYMMETRIC_ALGORITHMS, ...HMAC_ALGORITHMS]).describe(
  'JWS algorithm. `none` is not accepted anywhere.',
);

/** A JWKS `cacheMaxAge` or `cooldown`: a duration, refused below the verifier core's minimum in the core's own words. */
function jwksInterval(key: 'cacheMaxAge' | 'cooldown') {
  return durationSeconds().superRefine((seconds, ctx) => {
    const problem = jwksIntervalProblem(key, seconds);
    if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
  });
}

const JwksOptionsSchema = z
  .object({
    timeoutMs: z.number().int().positive().default(5000).describe('Timeout of one JWKS fetch.'),
    maxBytes: z.number().int().positive().default(512 * 1024).describe('Largest JWKS response accepted.'),
    cacheMaxAge: jwksInterval('cacheMaxAge')
      .default(600)
      .describe('How long fetched keys are used before a refresh (refreshed ahead of this). At least 1s.'),
    cooldown: jwksInterval('cooldown')
      .default(30)
      .describe('Minimum interval between re-fetches triggered by a request: an unknown `kid`, or a signature that fails under the fetched keys (new key material). A flood of either causes at most one fetch per interval. At least 1s.'),
  })
  .strict();

export const JwtIssuerSchema = z
  .object({
    name: z.string().optional().describe('Label used in metrics and logs; defaults to the issuer URL.'),
    issuer: z.string().min(1).describe('Expected `iss` claim, compared exactly.'),
    audience: z
      .union([z.string().min(1), z.array(z.string().min(1)).min(1)])
      .describe('Accepted `aud` value(s); the token must name at least one.'),
    publicKey: z
      .string()
      .optional()
      .describe('Path to a PEM public key (SPKI), a PEM certificate, or a JWK / JWK Set JSON file.'),
    jwksUri: z.url().optional().describe('JWKS endpoint (https, or http on loopback only).'),
    secret: z
      .string()
      .optional()
      .describe('HMAC secret (use `${ENV_VAR}`); at least as long as the longest allowed algorithm\'s hash: 32 bytes for HS256, 48 for HS384, 64 for HS512 (RFC 7518 §3.2). Only with HS* algorithms, never together with public keys.'),
    algorithms: z.array(AlgorithmSchema).min(1).describe('Allow-list of algorithms; the token header can only choose among these.'),
    clockSkew: durationSeconds().default(30).describe('Tolerance for `exp`, `nbf` and `iat`.'),
    maxTokenAge: durationSeconds().optional().describe('When set, reject tokens whose `iat` is older than this.'),
    requireTyp: z
      .enum(['at+jwt', 'application/at+jwt'])
      .optional()
      .describe('Require this JOSE `typ` header (RFC 9068 access tokens).'),
    jwks: JwksOptionsSchema.default(JwksOptionsSchema.parse({})).describe('JWKS fetching limits.'),
  })
  .strict()
  .superRefine((iss, ctx) => {
    // The verifier core's rules, so the service kit refuses what config check refuses.
    for (const problem of keySourceProblems(iss)) {
      // A jwksUri that does not parse is reported by its url() check.
      if (problem.path[0] === 'jwksUri' && !URL.canParse(iss.jwksUri!)) continue;
      ctx.addIssue({ code: 'custom', path: [...problem.path], message: problem.message });
    }
  });
export type JwtIssuerConfig = z.infer<typeof JwtIssuerSchema>;

const ClaimConditionSchema = z
  .object({
    claim: z.string().min(1).describe('Claim name; dots address nested objects (`realm_access.roles`).'),
    equals: z.union([z.string(), z.number(), z.boolean()]).optional().describe('The claim must equal this value.'),
    oneOf: z.array(z.union([z.string(), z.number()])).min(1).optional().describe('The claim must be one of these values.'),
    contains: z.union([z.string(), z.number()]).optional().describe('The claim (an array, or space-separated string) must contain this value.'),
    present: z.boolean().optional().describe('`true`: the claim must be present; `false`: it must be absent.'),
  })
  .strict()
  .refine((c) => [c.equals, c.oneOf, c.contains, c.present].filter((v) => v !== undefined).length === 1, {
    message: 'a claim condition needs exactly one of equals, oneOf, contains, present',
  });
export type ClaimCondition = z.infer<typeof ClaimConditionSchema>;

const AuthKindSchema = z
  .enum(['none', 'jwt', 'opaque', 'session'])
  .describe('`none`: public route; `jwt`: a Bearer JWT is required; `opaque`: a Bearer token checked by introspection (`security.introspection`); `session`: a browser session cookie (`sessions`).');

// RFC 9110 §5.1: a field name is a token.
const HEADER_TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Names that carry the message's framing, its credentials or the body's type: never the gateway's to inject or strip. */
const MESSAGE_HEADERS = new Set(['content-length', 'content-type', 'content-encoding', 'authorization', 'cookie', 'set-cookie']);

/**
 * A header the gateway injects or removes by configuration. A name that is not
 * a token made every authenticated request fail upstream (502); `host`,
 * `content-length` and the like would have let a claim value pick the upstream
 * host or the body's framing.
 */
const IdentityHeaderName = z
  .string()
  .regex(HEADER_TOKEN, 'an HTTP header name (letters, digits and !#$%&\'*+.^_`|~-)')
  .refine((name) => {
    // Folded as a CGI-style upstream reads it: `x_forwarded_for` would reach one as X-Forwarded-For.
    const folded = foldedHeaderName(name.toLowerCase());
    return !isNeverForwarded(folded) && !MESSAGE_HEADERS.has(folded);
  }, 'a header the proxy owns (Host, Content-Length, Authorization, Cookie, X-Forwarded-*, X-Request-Id …)');

/**
 * A prefix of inbound headers to strip. One that starts a header the proxy owns or
 * one that frames the message (`content-`, `a`) would remove Content-Type,
 * Authorization, X-Forwarded-Port from a trusted proxy…: the same names
 * {@link IdentityHeaderName} refuses to strip one by one.
 */
const StripPrefix = z
  .string()
  .regex(HEADER_TOKEN, 'the start of an HTTP header name')
  .superRefine((prefix, ctx) => {
    const folded = foldedHeaderName(prefix.toLowerCase());
    const owned = [...MESSAGE_HEADERS].find((name) => name.startsWith(folded)) ?? proxyOwnedWithPrefix(folded);
    if (owned !== undefined) ctx.addIssue({ code: 'custom', message: `would strip ${owned}, a header the proxy owns or that frames the message; make the prefix longer` });
  });

const PropagateSchema = z
  .object({
    authorization: z
      .enum(['forward', 'drop'])
      .optional()
      .describe('Forward the original `Authorization` header upstream, or drop it. Default: `drop` when `maskedClaims` is set (the service gets the claims instead of the token), otherwise `forward`.'),
    headers: z
      .object({
        subject: IdentityHeaderName.optional().describe('Header that receives `sub`.'),
        clientId: IdentityHeaderName.optional().describe('Header that receives `client_id` (or `azp`).'),
        scopes: IdentityHeaderName.optional().describe('Header that receives the granted scopes, space-separated.'),
        issuer: IdentityHeaderName.optional().describe('Header that receives `iss`.'),
        claims: z.record(z.string(), IdentityHeaderName).default({}).describe('Claim name → header name, for chosen claims.'),
      })
      .strict()
      .default({ claims: {} })
      .describe('Identity headers injected after every inbound header of those names has been removed. Each value needs a header name of its own: a name used twice in one route (also as `maskedClaims.header`, compared without case and with `_` or `.` as `-`) is refused.'),
    maskedClaims: z
      .object({
        header: IdentityHeaderName.default('x-gatehouse-claims').describe('Header that carries the claims as base64url JSON.'),
        claims: z.array(z.string().min(1)).min(1).describe('Claims to forward; all others are withheld.'),
      })
      .strict()
      .optional()
      .describe('Forward a chosen subset of claims instead of the raw token; the token is then dropped unless `authorization: forward` says otherwise (a service that verifies tokens itself, as the service kit does, needs it). The header is not signed: a service that trusts it alone trusts everyone who can reach it without the gateway.'),
  })
  .strict()
  .superRefine(checkIdentityHeadersApart);
export type PropagateConfig = z.infer<typeof PropagateSchema>;

/**
 * Each identity value of a route in a header of its own: two under one name would
 * reach the upstream as two lines (or one joined by a comma), and which one it reads
 * is its own choice. Names compare as the stripper folds them, so `x_id` and `X.Id`
 * are `x-id` too, as a CGI-style upstream sees them. Only `propagate` injects
 * headers; `identity` only strips, so there is nothing route-wide to compare with.
 */
function checkIdentityHeadersApart(p: PropagateConfig, ctx: z.RefinementCtx): void {
  const named: [string[], string | undefined][] = [
    [['headers', 'subject'], p.headers.subject],
    [['headers', 'clientId'], p.headers.clientId],
    [['headers', 'scopes'], p.headers.scopes],
    [['headers', 'issuer'], p.headers.issuer],
    ...Object.entries(p.headers.claims).map(([claim, header]): [string[], string] => [['headers', 'claims', claim], header]),
    [['maskedClaims', 'header'], p.maskedClaims?.header],
  ];
  const first = new Map<string, string[]>();
  for (const [path, header] of named) {
    if (header === undefined) continue;
    const folded = foldedHeaderName(header.toLowerCase());
    const before = first.get(folded);
    if (before === undefined) first.set(folded, path);
    else ctx.addIssue({ code: 'custom', path, message: `${header} is also the header of propagate.${before.join('.')}: each identity value needs its own header (names compare without case, and \`_\` or \`.\` as \`-\`)` });
  }
}

/** `path` with each run of characters beyond printable ASCII percent-encoded as UTF-8; undefined when it has none or cannot be encoded. */
function escapeNonAscii(path: string): string | undefined {
  if (!/[^\x20-\x7e]/.test(path)) return undefined;
  try {
    return path.replace(/[^\x20-\x7e]+/g, (run) => encodeURIComponent(run));
  } catch {
    return undefined; // a lone surrogate
  }
}

function normalizedOrUndefined(path: string): string | undefined {
  try {
    return normalizePath(path);
  } catch {
    return undefined;
  }
}

export const RouteSchema = z
  .object({
    name: z.string().optional().describe('Label for metrics and logs; defaults to the path.'),
    path: z.string().startsWith('/').describe('Path prefix, matched on segment boundaries after normalization, where a `.` right after the prefix is a boundary too (`/api/orders` matches `/api/orders/1`, `/api/orders.json` and `/api/orders.`, not `/api/ordersX`); the longest match wins. Written as normalized (escapes of `!$&\'()*,=:@` decoded, non-ASCII percent-encoded), without `+`.'),
    upstream: z.url().describe('Upstream base URL; the normalized request path is appended.'),
    auth: z
      .union([AuthKindSchema, z.array(AuthKindSchema).min(1)])
      .default('jwt')
      .describe('Credential(s) this route accepts, tried in order. Default: `jwt`.'),
    scopes: z
      .array(z.string().refine(isScopeToken, SCOPE_TOKEN_RULE))
      .default([])
      .describe('Scopes that are all required, each a scope-token (printable ASCII without spaces, `"` or `\\`; RFC 6749 §3.3).'),
    claims: z.array(ClaimConditionSchema).default([]).describe('Claim conditions that must all hold.'),
    issuers: z.array(z.string()).optional().describe('Restrict this route to these issuers (by `name` or issuer URL).'),
    methods: z
      .array(z.string().regex(/^[A-Z]+$/, 'an upper-case HTTP method'))
      .optional()
      .describe('Allowed methods; others get 405 with `Allow`. `GET` allows `HEAD` too. Default: all.'),
    host: z
      .string()
      .superRefine((host, ctx) => {
        const problem = routeHostProblem(host);
        if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
      })
      .optional()
      .describe('Match only this Host (exact, or `*.example.com` for subdomains; case, port and a final dot are ignored). Written as the Host header carries it: a name beyond ASCII in its punycode form (`xn--bcher-kva.example`, which `config check` names), no scheme or path.'),
    propagate: PropagateSchema.default(PropagateSchema.parse({})),
    maxBodyBytes: z.number().int().nonnegative().optional().describe('Largest request body for this route (413 beyond).'),
    timeoutMs: z.number().int().positive().optional().describe('Upstream timeout for this route: to the response headers, and the longest pause in the upstream\'s response body (as `limits.upstreamTimeoutMs`).'),
    login: z
      .enum(['auto', 'redirect', 'status'])
      .default('auto')
      .describe('Session routes without a usable session: `redirect` to login, `status` 401, `auto` redirects page navigations and answers API calls 401.'),
  })
  .strict();
export type RouteConfig = z.infer<typeof RouteSchema>;

const ListenSchema = z
  .object({
    host: z.string().default('127.0.0.1').describe('Address to bind.'),
    port: z.number().int().min(0).max(65535).default(8080).describe('Port; 0 picks a free one.'),
    tls: z
      .object({
        cert: z.string().describe('Path to the PEM certificate chain.'),
        key: z.string().describe('Path to the PEM private key.'),
        redirectPort: z.number().int().min(0).max(65535).optional().describe('Plain-HTTP port that only redirects to HTTPS.'),
        hstsMaxAge: durationSeconds().default(31536000).describe('Strict-Transport-Security max-age.'),
      })
      .strict()
      .optional()
      .describe('Serve HTTPS. The certificate and key files are read again on every reload (SIGHUP) and serve new connections; a pair that does not load refuses the reload.'),
    allowInsecureHttp: z
      .boolean()
      .default(false)
      .describe('Allow plain HTTP on a non-loopback address (warns at start). Without TLS the gateway otherwise binds loopback only.'),
  })
  .strict();

const AdminSchema = z
  .object({
    enabled: z.boolean().default(true),
    host: z.string().default('127.0.0.1').describe('Admin listener address (loopback by default).'),
    port: z.number().int().min(0).max(65535).default(9090),
  })
  .strict();

const LimitsSchema = z
  .object({
    maxHeaderBytes: z.number().int().positive().default(16384).describe('Total request header size (431 beyond).'),
    maxUrlLength: z.number().int().positive().default(8192).describe('Request target length (414 beyond).'),
    maxBodyBytes: z.number().int().nonnegative().default(10 * 1024 * 1024).describe('Default request body limit (413 beyond).'),
    maxConnections: z.number().int().positive().default(10000).describe('Concurrent client connections.'),
    requestTimeoutMs: z.number().int().positive().default(30000).describe('Time to receive a whole request; also bounds a TLS handshake (at most 10 s).'),
    upstreamTimeoutMs: z.number().int().positive().default(30000).describe('Time to the upstream response headers (504 beyond), and the longest pause in the upstream\'s response body (the response is cut).'),
    sendTimeoutMs: z
      .number()
      .int()
      .positive()
      .default(60000)
      .describe(
        'How long a response may wait for the client to take any of it: a client that stops reading is cut (499 in the access log) and the pooled upstream connection it held is freed. The kernel shows a client\'s reading only as its send buffer frees up, so keep this well above the pace of a slow client (nginx\'s `send_timeout` is 60 s).',
      ),
    upstreamConnectTimeoutMs: z.number().int().positive().default(5000).describe('Time to connect to an upstream (502 beyond).'),
    upstreamConnections: z.number().int().positive().default(128).describe('Connections per upstream origin, kept alive between requests: at most this many requests to one origin at once; more wait for a free connection, each at most its route\'s upstream timeout (then 504, unsent).'),
  })
  .strict();

export const IntrospectionSchema = z
  .object({
    issuer: z
      .url()
      .optional()
      .describe(
        'The authorization server\'s issuer. Responses that carry `iss` must match it; when `endpoint` is not set, the endpoint is discovered from its metadata (OpenID discovery, then RFC 8414).',
      ),
    endpoint: z.url().optional().describe('RFC 7662 introspection endpoint (https, or http on loopback only).'),
    clientId: z.string().min(1).describe('The gateway\'s client id at the authorization server (client_secret_basic).'),
    clientSecret: z.string().min(1).describe('The gateway\'s client secret; use `${ENV_VAR}`.'),
    audience: z
      .union([z.string().min(1), z.array(z.string().min(1)).min(1)])
      .describe('Accepted `aud` value(s); an active token must name at least one (tokens without `aud` are refused).'),
    cacheMaxAge: durationSeconds()
      .default(30)
      .describe('Longest time an active result is reused (never beyond the token\'s `exp`): a revocation takes effect within this bound.'),
    inactiveCacheMaxAge: durationSeconds().default(5).describe('How long an inactive or refused result is reused.'),
    cacheMaxEntries: z
      .number()
      .int()
      .nonnegative()
      .max(MAX_CACHE_ENTRIES)
      .default(10000)
      .describe('Active answers the introspection cache holds (0 disables caching); refused ones have an LRU of their own, a tenth of this size.'),
    timeoutMs: z.number().int().positive().default(3000).describe('Deadline of one introspection lookup (waiting for a request slot, discovering the endpoint and the retry after a reset included); beyond it, 503.'),
    maxConcurrentRequests: z
      .number()
      .int()
      .positive()
      .default(32)
      .describe(
        'Introspection requests in flight at once (also the connection pool size); as many more wait for a free one, and a lookup beyond that fails at once with 503.',
      ),
    maxResponseBytes: z.number().int().positive().default(64 * 1024).describe('Largest introspection response accepted.'),
    clockSkew: durationSeconds().default(30).describe('Tolerance for `exp` and `nbf` in introspection responses.'),
  })
  .strict()
  .superRefine((cfg, ctx) => {
    if (cfg.endpoint === undefined && cfg.issuer === undefined) {
      ctx.addIssue({ code: 'custom', message: 'one of endpoint or issuer (for discovery) is required' });
    }
    for (const key of ['endpoint', 'issuer'] as const) {
      const value = cfg[key];
      // A value that does not parse is reported by its url() check. http is for loopback only: the gateway sends its client secret there.
      const problem = value === undefined || !URL.canParse(value) ? undefined : endpointUrlProblem(value);
      if (problem !== undefined) ctx.addIssue({ code: 'custom', path: [key], message: problem });
    }
  });
export type IntrospectionConfig = z.infer<typeof IntrospectionSchema>;

const SecuritySchema = z
  .object({
    jwt: z
      .union([JwtIssuerSchema, z.array(JwtIssuerSchema).min(1)])
      .optional()
      .describe('One trusted issuer, or a list of them (the token `iss` selects one).'),
    introspection: IntrospectionSchema.optional().describe('RFC 7662 introspection of opaque tokens (routes with `auth: opaque`).'),
    realm: z
      .string()
      .refine(isChallengeRealm, CHALLENGE_REALM_RULE)
      .default('gatehouse')
      .describe('Realm in `WWW-Authenticate` challenges: printable ASCII without `"` or `\\`.'),
    tokenCache: z
      .object({
        maxEntries: z.number().int().nonnegative().max(MAX_CACHE_ENTRIES).default(10000).describe('Verified-token cache size (0 disables it and the rejected-signature cache). A token is stored at its second verification; the rejected-signature cache holds a quarter of this, at least 1,000.'),
      })
      .strict()
      .default({ maxEntries: 10000 }),
  })
  .strict();

const IdentitySchema = z
  .object({
    stripPrefixes: z
      .array(StripPrefix)
      .default(['x-gatehouse-', 'x-user-', 'x-auth-'])
      .describe('Inbound headers with these prefixes are removed before routing, so clients cannot spoof identity. Any character other than a letter or digit counts as a hyphen (`x_user_id` and `x.user.id` are removed like `x-user-id`): CGI-style servers and PHP read them as one header. A prefix that starts a header `stripHeaders` refuses (`content-`, `x-forwarded-`, `a`) is refused.'),
    stripHeaders: z.array(IdentityHeaderName).default([]).describe('Further inbound header names to remove (underscore and dot spellings too). The identity headers any route injects (`propagate.headers`, `maskedClaims.header`) are removed on every route without being listed here.'),
  })
  .strict();

export const ConfigSchema = z
  .object({
    listen: ListenSchema.default(ListenSchema.parse({})),
    admin: AdminSchema.default(AdminSchema.parse({})),
    limits: LimitsSchema.default(LimitsSchema.parse({})),
    trustedProxies: z
      .array(z.string())
      .default([])
      .describe('Peers (IP or CIDR) whose inbound X-Forwarded-* headers are kept; others are overwritten.'),
    security: SecuritySchema.default(SecuritySchema.parse({})),
    identity: IdentitySchema.default(IdentitySchema.parse({})),
    routes: z.array(RouteSchema).default([]).describe('Routes, matched by the longest path prefix; among routes with the same prefix, an exact `host` beats a `*.` wildcard, which beats a route without `host`. At least one unless `auth` is set.'),
    sessions: SessionsSchema.optional().describe('Browser sessions at the gateway (routes with `auth: session`, and `/auth/*`).'),
    auth: AuthServiceSchema.optional().describe('The authorization service (`gatehouse auth start`, or alongside the gateway).'),
    logging: z
      .object({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info') })
      .strict()
      .default({ level: 'info' }),
    shutdown: z
      .object({
        readinessDelayMs: z.number().int().nonnegative().default(0).describe('After SIGTERM, `/readyz` answers 503 for this long while the gateway still accepts and serves (each answer says `Connection: close`); only then does it stop accepting and drain. Set it to how long your load balancer takes to stop sending (Kubernetes: the lag before the pod leaves the endpoints). The drain timeout counts from its end.'),
        drainTimeoutMs: z.number().int().nonnegative().default(10000).describe('In-flight requests get this long once the gateway stops accepting; an authorization service started with the gateway drains after it, with what is left (at least a second, or all of this when it is shorter).'),
      })
      .strict()
      .default({ readinessDelayMs: 0, drainTimeoutMs: 10000 }),
  })
  .strict()
  .superRefine((cfg, ctx) => {
    if (cfg.routes.length === 0 && cfg.auth === undefined) {
      ctx.addIssue({ code: 'custom', path: ['routes'], message: 'at least one route is required (or an auth section)' });
    }
    const hasJwt = cfg.security.jwt !== undefined;
    checkListen(cfg.listen, ctx);
    checkPortsApart(cfg, ctx);
    // Checked here, with its line, rather than when the gateway builds it at start or reload.
    cfg.trustedProxies.forEach((entry, i) => {
      try {
        createTrustedProxies([entry]);
      } catch (err) {
        ctx.addIssue({ code: 'custom', path: ['trustedProxies', i], message: (err as Error).message.replace(/^trustedProxies: /, '') });
      }
    });
    checkIssuerLabels(cfg, ctx);
    checkRouteTable(cfg, ctx);
    cfg.routes.forEach((route, i) => {
      const kinds = Array.isArray(route.auth) ? route.auth : [route.auth];
      if (kinds.includes('jwt') && !hasJwt) {
        ctx.addIssue({ code: 'custom', path: ['routes', i, 'auth'], message: 'route requires jwt but security.jwt is not configured' });
      }
      if (kinds.includes('opaque') && cfg.security.introspection === undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['routes', i, 'auth'],
          message: 'route requires opaque but security.introspection is not configured',
        });
      }
      if (kinds.includes('session') && cfg.sessions === undefined) {
        ctx.addIssue({ code: 'custom', path: ['routes', i, 'auth'], message: 'route requires session but sessions is not configured' });
      }
      // The session endpoints are answered before routing, on every host: such a route would never be reached.
      // Compared without regard to case, as the router compares paths.
      const lowerPath = route.path.toLowerCase();
      if (cfg.sessions !== undefined && (lowerPath === SESSION_ENDPOINTS_PATH || lowerPath.startsWith(`${SESSION_ENDPOINTS_PATH}/`))) {
        ctx.addIssue({
          code: 'custom',
          path: ['routes', i, 'path'],
          message: `${SESSION_ENDPOINTS_PATH} and the paths below it are the gateway's session endpoints when sessions is configured; choose another path`,
        });
      }
      if (kinds.includes('none') && (route.scopes.length > 0 || route.claims.length > 0)) {
        ctx.addIssue({ code: 'custom', path: ['routes', i, 'scopes'], message: 'a public route (auth: none) cannot require scopes or claims' });
      }
    });
  });

type Issues = z.RefinementCtx;

/**
 * Plain HTTP on an address other than loopback would carry tokens in clear text
 * across a network: only with TLS, or when the file says so explicitly.
 */
function checkListen(listen: z.infer<typeof ListenSchema>, ctx: Issues): void {
  if (listen.tls !== undefined || listen.allowInsecureHttp || isLoopbackAddress(listen.host)) return;
  ctx.addIssue({ code: 'custom', path: ['listen', 'host'], message: 'plain HTTP on a non-loopback address needs listen.tls, or allowInsecureHttp: true' });
}

const WILDCARD_HOSTS = new Set(['0.0.0.0', '::', '']);

/** A listener a command opens: where its port is configured, its address and port (0: any free one). */
interface ListenerAt {
  readonly key: string;
  readonly host: string;
  readonly port: number | undefined;
}

/** What `start` opens for the gateway: its listener, the HTTPS redirect, and the admin listener when enabled. */
function gatewayListeners(cfg: Config): ListenerAt[] {
  return [
    { key: 'listen.port', host: cfg.listen.host, port: cfg.listen.port },
    { key: 'listen.tls.redirectPort', host: cfg.listen.host, port: cfg.listen.tls?.redirectPort },
    ...(cfg.admin.enabled ? [{ key: 'admin.port', host: cfg.admin.host, port: cfg.admin.port }] : []),
  ];
}

/**
 * The authorization service's port against the gateway's (the schema checks the gateway's own).
 * Only `start` opens both, and refuses these; a file with no routes may be meant for `auth start`
 * alone, where the gateway's (default) port is unused, so the schema leaves them to the commands.
 */
export function serviceClashes(cfg: Config): { readonly key: string; readonly message: string }[] {
  if (cfg.auth === undefined) return [];
  return portClashes([...gatewayListeners(cfg), { key: 'auth.listen.port', host: cfg.auth.listen.host, port: cfg.auth.listen.port }]).filter((c) => c.key === 'auth.listen.port');
}

/** Each listener that shares a port with an earlier one on the same address (the second bind fails with EADDRINUSE). */
function portClashes(listeners: readonly ListenerAt[]): { readonly key: string; readonly message: string }[] {
  const opened = listeners.filter((l) => l.port !== undefined && l.port !== 0);
  return opened.flatMap((l, i) => {
    const clash = opened.slice(0, i).find((o) => o.port === l.port && (o.host === l.host || WILDCARD_HOSTS.has(o.host) || WILDCARD_HOSTS.has(l.host)));
    return clash === undefined ? [] : [{ key: l.key, message: `port ${l.port} is also ${clash.key} on the same address` }];
  });
}

/**
 * The gateway's listeners may not share a port. The authorization service's is
 * checked by `start`, the one command that opens both: a file for `auth start`
 * alone may put the service on any port.
 */
function checkPortsApart(cfg: Config, ctx: Issues): void {
  for (const { key, message } of portClashes(gatewayListeners(cfg))) ctx.addIssue({ code: 'custom', path: key.split('.'), message });
}

/**
 * Route rules that span the table or need the path normalizer: checked here so
 * that `config check`, `start` and a reload refuse the same files, each problem
 * with its line.
 */
function checkRouteTable(cfg: Config, ctx: Issues): void {
  const names = new Map<string, number>();
  const matches = new Map<string, number>();
  const issuerLabels = new Set(configuredIssuers(cfg).flatMap((iss) => [iss.issuer, iss.name ?? iss.issuer]));
  cfg.routes.forEach((route, i) => {
    const at = (key: string, message: string) => ctx.addIssue({ code: 'custom', path: ['routes', i, key], message });
    const name = route.name ?? route.path;
    const namedBefore = names.get(name);
    if (namedBefore !== undefined) at(route.name ? 'name' : 'path', `route name ${name} is also used by routes.${namedBefore}; names label metrics`);
    else names.set(name, i);
    let normalized: string | undefined;
    try {
      normalized = normalizePath(route.path);
    } catch {
      // Requests cannot carry a raw non-ASCII path (Node refuses it): only its escaped spelling can match.
      const escaped = escapeNonAscii(route.path);
      const suggestion = escaped === undefined ? undefined : normalizedOrUndefined(escaped);
      if (suggestion !== undefined) at('path', `write the path percent-encoded, as ${suggestion}`);
      else at('path', 'contains characters requests may not use (an encoded slash, a backslash, `;`, `#`, a space or another control character, a character beyond ASCII)');
    }
    if (normalized !== undefined && normalized !== route.path) at('path', `write the path as ${normalized}`);
    // A request may spell it `%2B`, kept escaped for upstreams that read `+` as a space: it would miss this route.
    else if (route.path.includes('+')) at('path', 'may not contain `+`, which requests may also spell %2B');
    // The router never chooses by method: a second route with the same match key is never reached.
    const match = routeMatchKey(route.path, route.host);
    const matchedBefore = matches.get(match);
    if (matchedBefore !== undefined) at('path', `matches the same requests as routes.${matchedBefore} (paths match regardless of case)`);
    else matches.set(match, i);
    // Zod runs this check even when a field failed (an unparsable upstream is reported there).
    const upstream = URL.parse(route.upstream);
    if (upstream === null) return;
    if (upstream.protocol !== 'http:' && upstream.protocol !== 'https:') at('upstream', 'must be an http or https URL');
    else if (upstream.search || upstream.hash || upstream.username || upstream.password) {
      at('upstream', 'must not carry a query, fragment or credentials');
    }
    route.issuers?.forEach((label, j) => {
      if (!issuerLabels.has(label)) {
        ctx.addIssue({ code: 'custom', path: ['routes', i, 'issuers', j], message: `no issuer in security.jwt is named ${label}` });
      }
    });
  });
}

export type Config = z.infer<typeof ConfigSchema>;
export type ConfigInput = z.input<typeof ConfigSchema>;

/**
 * A route's `issuers` names an issuer by `name` or URL: every label must name
 * one issuer only. Two issuers with one URL (the verifier refuses that at
 * start), two with one name, or a name that is another issuer's URL would let a
 * route admit the wrong issuer's tokens.
 */
function checkIssuerLabels(cfg: Config, ctx: Issues): void {
  const jwt = cfg.security.jwt;
  if (!Array.isArray(jwt)) return;
  const owner = new Map<string, number>();
  jwt.forEach((iss, i) => {
    const labels = iss.name === undefined || iss.name === iss.issuer ? [['issuer', iss.issuer]] : [['issuer', iss.issuer], ['name', iss.name]];
    for (const [key, label] of labels as [string, string][]) {
      const first = owner.get(label);
      if (first !== undefined && first !== i) {
        ctx.addIssue({ code: 'custom', path: ['security', 'jwt', i, key], message: `${label} also names security.jwt.${first}: a route's issuers must name one issuer` });
      } else owner.set(label, i);
    }
  });
}

/** The configured issuers as a list, whichever form the file used. */
export function configuredIssuers(cfg: Config): readonly JwtIssuerConfig[] {
  const jwt = cfg.security.jwt;
  if (!jwt) return [];
  return Array.isArray(jwt) ? jwt : [jwt];
}
