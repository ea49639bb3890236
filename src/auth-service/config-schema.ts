import { z } from 'zod';
import { createTrustedProxies } from '../server/trusted-proxies.js';
import { durationSeconds } from '../config/duration.js';
import { isScopeToken, SCOPE_TOKEN_RULE } from '../errors.js';
import { isSafeEndpointUrl } from '../loopback.js';

/**
 * The `auth:` section of the config file: the authorization service. Nothing
 * here has a default secret: confidential clients must name a secret (use
 * `${ENV_VAR}`) and cookie keys must be given, so an operator cannot start a
 * service that signs sessions with a value copied from the docs.
 */

export const SIGNING_ALGORITHMS = ['ES256', 'RS256', 'EdDSA'] as const;
export type SigningAlgorithm = (typeof SIGNING_ALGORITHMS)[number];

/**
 * A token or session lifetime as oidc-provider takes it: whole seconds, at least
 * one. It accepts anything else at start and then fails every token request of
 * that kind with a 500.
 */
const lifetime = () => durationSeconds().refine((s) => Number.isInteger(s) && s >= 1, 'a whole number of seconds, at least 1s');

const ScopeName = z.string().refine(isScopeToken, SCOPE_TOKEN_RULE);

const StoreSchema = z.discriminatedUnion('kind', [
  z
    .object({
      kind: z.literal('sqlite'),
      path: z.string().min(1).describe('SQLite file for grants, codes, sessions and refresh tokens.'),
    })
    .strict(),
  z
    .object({
      kind: z.literal('redis'),
      url: z.string().regex(/^rediss?:\/\//, 'a redis:// or rediss:// URL').describe('Redis URL.'),
      keyPrefix: z.string().min(1).default('gatehouse:auth:').describe('Prefix of every key the service writes.'),
    })
    .strict(),
]);

const ClientSchema = z
  .object({
    clientId: z.string().min(1).max(200),
    clientSecret: z
      .string()
      .optional()
      .describe('Secret of a confidential client (use `${ENV_VAR}`); at least 16 characters. Absent for public clients.'),
    tokenEndpointAuthMethod: z
      .enum(['client_secret_basic', 'client_secret_post', 'none'])
      .optional()
      .describe(
        'Default: `client_secret_basic` with a secret, `none` without. oidc-provider takes `client_secret_basic` and `client_secret_post` as one method: a client set to either may send its secret either way (Authorization header or form body).',
      ),
    redirectUris: z.array(z.url()).default([]).describe('Exact redirect URIs (compared exactly): https, or http on a loopback address.'),
    postLogoutRedirectUris: z.array(z.url()).default([]).describe('Where RP-initiated logout may return to, compared exactly: https, or http on a loopback address.'),
    grantTypes: z
      .array(z.enum(['authorization_code', 'refresh_token', 'client_credentials']))
      .min(1)
      .default(['authorization_code', 'refresh_token']),
    scopes: z.array(ScopeName).min(1).describe('Allow-list: scopes this client may request (OIDC scopes such as openid and offline_access included).'),
    resources: z.array(z.url()).default([]).describe('Resource indicators (audiences) this client may obtain tokens for; the first is the default.'),
    firstParty: z.boolean().default(false).describe('First-party clients skip the consent page.'),
  })
  .strict()
  .superRefine((c, ctx) => {
    const method = c.tokenEndpointAuthMethod ?? (c.clientSecret === undefined ? 'none' : 'client_secret_basic');
    if (method !== 'none' && (c.clientSecret === undefined || c.clientSecret.length < 16)) {
      ctx.addIssue({ code: 'custom', path: ['clientSecret'], message: 'a confidential client needs a secret of at least 16 characters' });
    }
    if (method === 'none' && c.clientSecret !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['clientSecret'], message: 'a public client (tokenEndpointAuthMethod: none) has no secret' });
    }
    if (method === 'none' && c.grantTypes.includes('client_credentials')) {
      ctx.addIssue({ code: 'custom', path: ['grantTypes'], message: 'client_credentials needs a confidential client' });
    }
    // A refresh token is issued only at a code exchange: alone, the grant type gives the client nothing.
    if (c.grantTypes.includes('refresh_token') && !c.grantTypes.includes('authorization_code')) {
      ctx.addIssue({ code: 'custom', path: ['grantTypes'], message: 'refresh_token needs authorization_code: refresh tokens are issued only at a code exchange' });
    }
    if (c.grantTypes.includes('authorization_code') && c.redirectUris.length === 0) {
      ctx.addIssue({ code: 'custom', path: ['redirectUris'], message: 'authorization_code needs at least one redirect URI' });
    }
    // RFC 9700 §4.1 and RFC 8252 §7.3: codes travel in the redirect, so never over plain HTTP off this host.
    for (const key of ['redirectUris', 'postLogoutRedirectUris'] as const) {
      c[key].forEach((uri, i) => {
        // An unparsable one is reported by its url() check.
        if (URL.canParse(uri) && !isSafeEndpointUrl(uri)) ctx.addIssue({ code: 'custom', path: [key, i], message: 'must be https, or http on a loopback address' });
        // oidc-provider refuses such a client at every request it makes (RFC 6749 §3.1.2): say so at load.
        if (uri.includes('#')) ctx.addIssue({ code: 'custom', path: [key, i], message: 'a redirect URI has no fragment (RFC 6749 §3.1.2)' });
      });
    }
  });
export type AuthClientConfig = z.infer<typeof ClientSchema>;

const ResourceSchema = z
  .object({
    indicator: z
      .url()
      // A client cannot send it (RFC 8707 §2 forbids the fragment, and oidc-provider refuses it), so its tokens could never be issued.
      .refine((u) => !u.includes('#'), 'a resource indicator has no fragment (RFC 8707 §2)')
      .describe('The resource indicator: the `aud` of its access tokens, e.g. https://api.example.com.'),
    accessTokenFormat: z.enum(['jwt', 'opaque']).default('jwt').describe('`jwt` (RFC 9068) or `opaque` (checked by introspection).'),
    scopes: z.array(ScopeName).default([]).describe('Scopes this resource understands.'),
    accessTokenTtl: lifetime().optional().describe('Access-token lifetime for this resource; default `ttl.accessToken`.'),
  })
  .strict();
export type AuthResourceConfig = z.infer<typeof ResourceSchema>;

const TtlSchema = z
  .object({
    accessToken: lifetime().default(300),
    refreshTokenIdle: lifetime().default(14 * 86400).describe('A refresh token unused this long expires.'),
    refreshTokenAbsolute: lifetime().default(30 * 86400).describe('No refresh token of a grant outlives its first issue by more than this.'),
    authorizationCode: lifetime().default(60),
    session: lifetime().default(86400).describe('Login session at the service (signs the user in without the form); refresh tokens do not end with it.'),
    grant: lifetime()
      .default(30 * 86400)
      .describe("A user's authorization of a client, counted from the latest sign-in to that client; at least refreshTokenAbsolute."),
    interaction: lifetime().default(600).describe('Time to complete the login form.'),
  })
  .strict();

const SigningSchema = z
  .object({
    alg: z
      .enum(SIGNING_ALGORITHMS)
      .default('ES256')
      .describe(
        'Algorithm of new signing keys. Changing it re-keys nothing by itself: the stored keys go on signing (the service warns at start, `signing_alg_mismatch`) until `gatehouse keys rotate` makes a key of the new algorithm; verifiers must accept both until the old key retires.',
      ),
    keysPath: z
      .string()
      .min(1)
      .optional()
      .describe(
        'JSON file holding the private signing keys (created with mode 0600). Required with the sqlite store; with redis the keys live in Redis (`<keyPrefix>signing-keys`, in plain text) so every instance shares them.',
      ),
    rotationDelay: durationSeconds()
      .default(3600)
      .describe('A rotated-in key is published this long before it signs, so verifiers caching the JWKS see it first.'),
    reloadInterval: durationSeconds().default(10).describe('How often a running service re-reads the keys file (picks up `gatehouse keys rotate`).'),
  })
  .strict();

const LoginSchema = z
  .object({
    maxAttemptsPerUser: z
      .number()
      .int()
      .positive()
      .default(5)
      .describe(
        'Sign-in attempts per username within `window` before the form answers 429. Counted per instance with the sqlite store; with redis, in Redis (`<keyPrefix>ratelimit:`) across every instance sharing it, and an attempt is refused (503) while Redis cannot be reached.',
      ),
    maxAttemptsPerIp: z.number().int().positive().default(20).describe('Sign-in attempts per client address (IPv6: per /64) within `window`; counted as `maxAttemptsPerUser` is.'),
    maxConcurrentChecks: z
      .number()
      .int()
      .positive()
      .default(32)
      .describe('Password checks (scrypt, about 0.2 s of a core each) under way at once per instance; a sign-in beyond them is turned away at once with 503 and `Retry-After: 1`, uncounted, rather than queued behind a flood.'),
    window: durationSeconds()
      // 0 passed validation and switched the limit off: every count expired as it was made.
      .refine((s) => s >= 1, 'at least 1s (a shorter window lets guesses through as fast as they are sent)')
      .default(300)
      .describe('Rate-limit window for failed logins; at least 1s.'),
  })
  .strict();

export const AuthServiceSchema = z
  .object({
    issuer: z
      .url()
      .describe(
        'Issuer identifier and the public origin the service answers as: https, plain http only on a loopback address. Discovery, redirects and cookie flags follow it, never the request\'s Host or X-Forwarded-* headers.',
      ),
    listen: z
      .object({
        host: z.string().default('127.0.0.1'),
        port: z.number().int().min(0).max(65535).default(8081),
      })
      .strict()
      .default({ host: '127.0.0.1', port: 8081 }),
    store: StoreSchema.describe('Where oidc-provider state lives (sessions, grants, codes, tokens).'),
    usersPath: z.string().min(1).describe('SQLite file of user accounts.'),
    signing: SigningSchema,
    ttl: TtlSchema.default(TtlSchema.parse({})),
    clients: z.array(ClientSchema).default([]),
    resources: z.array(ResourceSchema).default([]),
    cookieKeys: z
      .array(z.string().min(32, 'a cookie key needs at least 32 characters'))
      .min(1)
      .describe('Keys that sign the service cookies (use `${ENV_VAR}`); the first signs, all verify.'),
    login: LoginSchema.default(LoginSchema.parse({})),
    trustedProxies: z
      .array(z.string())
      .default([])
      .describe(
        'Proxies (IP or CIDR) in front of the service: for requests from them, the login rate limit keys on the client address in X-Forwarded-For instead of the proxy\'s.',
      ),
    maxBodyBytes: z.number().int().positive().default(16384).describe('Largest request body (413 beyond); a body must declare its Content-Length (411 otherwise).'),
    maxUrlLength: z.number().int().positive().default(8192).describe('Longest request target (414 beyond).'),
  })
  .strict()
  .superRefine((cfg, ctx) => {
    try {
      createTrustedProxies(cfg.trustedProxies);
    } catch (err) {
      ctx.addIssue({ code: 'custom', path: ['trustedProxies'], message: (err as Error).message.replace(/^trustedProxies: /, '') });
    }
    const resources = new Map(cfg.resources.map((r) => [r.indicator, r]));
    const ids = new Set<string>();
    cfg.clients.forEach((c, i) => {
      if (ids.has(c.clientId)) ctx.addIssue({ code: 'custom', path: ['clients', i, 'clientId'], message: 'duplicate clientId' });
      ids.add(c.clientId);
      c.resources.forEach((r, j) => {
        if (!resources.has(r)) ctx.addIssue({ code: 'custom', path: ['clients', i, 'resources', j], message: 'not a configured resource indicator' });
      });
    });
    const issuer = URL.parse(cfg.issuer); // unparsable: reported by its url() check
    // The service answers at the root of its origin; mounting under a path is not supported.
    if (issuer && ((issuer.pathname !== '/' && issuer.pathname !== '') || issuer.search || issuer.hash || cfg.issuer.endsWith('/'))) {
      ctx.addIssue({ code: 'custom', path: ['issuer'], message: 'the issuer is an origin such as https://auth.example.com (no path, query or trailing slash)' });
    }
    // Over plain HTTP, codes, client secrets and session cookies would cross the network in clear text.
    if (issuer && !isSafeEndpointUrl(cfg.issuer)) {
      ctx.addIssue({ code: 'custom', path: ['issuer'], message: 'the issuer must be an https URL (plain http only on a loopback address)' });
    }
    if (cfg.store.kind === 'sqlite' && cfg.signing.keysPath === undefined) {
      ctx.addIssue({ code: 'custom', path: ['signing', 'keysPath'], message: 'required with the sqlite store' });
    }
    if (cfg.ttl.grant < cfg.ttl.refreshTokenAbsolute) {
      // Each sign-in extends the grant to this long from then (provider.ts, loadExistingGrant); a grant
      // that still ended first would silently cut short the refresh tokens of that sign-in.
      ctx.addIssue({ code: 'custom', path: ['ttl', 'grant'], message: 'must not be shorter than refreshTokenAbsolute' });
    }
    if (cfg.ttl.refreshTokenAbsolute < cfg.ttl.refreshTokenIdle) {
      ctx.addIssue({ code: 'custom', path: ['ttl', 'refreshTokenAbsolute'], message: 'must not be shorter than refreshTokenIdle' });
    }
  });

export type AuthServiceConfig = z.infer<typeof AuthServiceSchema>;
export type AuthServiceConfigInput = z.input<typeof AuthServiceSchema>;

/** The longest access-token lifetime any resource can get: a retired key stays published this long. */
export function longestAccessTokenTtl(cfg: AuthServiceConfig): number {
  return Math.max(cfg.ttl.accessToken, ...cfg.resources.map((r) => r.accessTokenTtl ?? 0));
}
