import { z } from 'zod';
import { durationSeconds } from '../config/duration.js';
import { endpointUrlProblem } from '../loopback.js';

/**
 * The `sessions:` section: browser sessions at the gateway (login at an OpenID
 * Connect provider, stateful or stateless sessions, transparent refresh). Keys
 * and the client secret have no defaults: use `${ENV_VAR}`.
 */

/** Where the gateway serves its own session endpoints (`/auth/login`, `/auth/callback`, …). */
export const SESSION_ENDPOINTS_PATH = '/auth';

const SessionKeySchema = z
  .object({
    id: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'letters, digits, - and _ (at most 64)').describe('Key id, stored with every ciphertext.'),
    secret: z
      .string()
      .refine((s) => Buffer.from(s, /[+/]/.test(s) ? 'base64' : 'base64url').length === 32, '32 bytes, base64 or base64url encoded')
      .describe('32 random bytes, base64 or base64url (use `${ENV_VAR}`; `openssl rand -base64 32`).'),
  })
  .strict();

const StoreSchema = z
  .discriminatedUnion('kind', [
    z
      .object({
        kind: z.literal('memory'),
        // Room for at least ten users' worth of per-user records (100 sessions or logout markers each):
        // a smaller store lets one account push everyone else out, or fill it with markers.
        maxEntries: z.number().int().min(1000).default(100000).describe('Most entries held; the least recently written goes first, never a stateless logout marker or cutoff (a store full of those refuses writes with 503 until they expire).'),
      })
      .strict(),
    z
      .object({
        kind: z.literal('redis'),
        url: z.string().regex(/^rediss?:\/\//, 'a redis:// or rediss:// URL').describe('Redis URL (use `${ENV_VAR}` for a password).'),
        prefix: z.string().default('gh:sess:').describe('Key prefix.'),
        commandTimeoutMs: z.number().int().positive().default(2000).describe('A Redis command slower than this fails the request with 503.'),
        localCache: z
          .object({
            maxEntries: z.number().int().nonnegative().default(10000).describe('Session reads each instance keeps in memory, evicted on every change by Redis pub/sub; 0 disables the cache.'),
            ttlMs: z.number().int().positive().default(5000).describe('Longest a cached read is used without asking Redis: bounds a revocation missed while the invalidation channel looked up, and how long an outage can go unnoticed.'),
          })
          .strict()
          .default({ maxEntries: 10000, ttlMs: 5000 }),
      })
      .strict(),
  ])
  .describe('Where stateful sessions live (stateless mode keeps logout markers, "end other sessions" cutoffs, refresh results and session-list entries there).');

export const SessionsSchema = z
  .object({
    mode: z.enum(['stateful', 'stateless']).default('stateful').describe('`stateful`: a random id in the cookie, the session in the store; `stateless`: the session sealed in the cookies.'),
    store: StoreSchema.default({ kind: 'memory', maxEntries: 100000 }),
    publicUrl: z.url().describe('The gateway origin as browsers see it (`https://app.example.com`); the callback is `<publicUrl>/auth/callback`.'),
    provider: z
      .object({
        issuer: z
          .url()
          // A value that does not parse is reported by its url() check. http only on loopback: the client secret and codes go there.
          .superRefine((value, ctx) => {
            const problem = URL.canParse(value) ? endpointUrlProblem(value) : undefined;
            if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
          })
          .describe('OpenID Connect issuer URL (https, or http on loopback).'),
        clientId: z.string().min(1),
        clientSecret: z.string().min(1).optional().describe('Confidential client secret (use `${ENV_VAR}`); absent for a public client.'),
        scopes: z.string().default('openid offline_access').describe('Requested scopes; `offline_access` gets a refresh token.'),
        resource: z.url().optional().describe('RFC 8707 resource indicator for the access token.'),
        timeoutMs: z
          .number()
          .int()
          .positive()
          .default(5000)
          .describe("Timeout of each call to the provider (discovery, code exchange, refresh). Set it above the token endpoint's worst latency: a refresh the provider completes after it is lost, and the session's next refresh, replaying the consumed refresh token, can end the session."),
      })
      .strict(),
    keys: z.array(SessionKeySchema).min(1).describe('Encryption keys; the first encrypts, all decrypt. Prepend a new key to rotate.'),
    idleTimeout: durationSeconds().default(1800).describe('A session unused this long ends.'),
    absoluteTimeout: durationSeconds().default(43200).describe('No session outlives its login by more than this.'),
    refreshSkew: durationSeconds().default(30).describe('Refresh the access token when it expires within this window (at most half the token\'s lifetime).'),
    touchInterval: durationSeconds().default(60).describe('Last-seen time is written at most this often (bounds store writes; idle precision). At most half of idleTimeout.'),
    refreshLock: z
      .object({
        ttlMs: z.number().int().positive().default(15000).describe('Lock lifetime, renewed every third of it while the refresh runs (what a crashed holder leaves behind); keep above provider.timeoutMs.'),
        waitMs: z.number().int().positive().default(10000).describe('How long a request waits for another instance\'s refresh before 503.'),
      })
      .strict()
      .default({ ttlMs: 15000, waitMs: 10000 }),
    csrf: z
      .object({
        allowedOrigins: z.array(z.url()).default([]).describe('Other origins whose pages may send cookie-authenticated unsafe requests.'),
        doubleSubmit: z.boolean().default(false).describe('Also require header `x-csrf-token` equal to cookie `__Host-gh_csrf`.'),
      })
      .strict()
      .default({ allowedOrigins: [], doubleSubmit: false }),
    returnToOrigins: z.array(z.url()).default([]).describe('Origins (besides publicUrl) that `return_to` may point to.'),
    logout: z
      .object({
        endSession: z.boolean().default(true).describe("Continue at the provider's end-session endpoint after logout."),
        postLogoutRedirectUri: z.url().optional().describe('Where the provider sends the browser after end-session (register it there).'),
      })
      .strict()
      .default({ endSession: true }),
  })
  .strict()
  .superRefine((s, ctx) => {
    if (s.absoluteTimeout < s.idleTimeout) ctx.addIssue({ code: 'custom', path: ['absoluteTimeout'], message: 'must not be shorter than idleTimeout' });
    // Idle expiry is judged from the last-seen time, which moves only every touchInterval: a session
    // used without pause would look idle for up to touchInterval and, with idleTimeout not well above
    // it, end while in use. At most half leaves at least as much slack as the interval itself.
    if (s.touchInterval * 2 > s.idleTimeout) {
      ctx.addIssue({
        code: 'custom',
        path: ['touchInterval'],
        message: `must be at most half of idleTimeout (touchInterval ${s.touchInterval} s, idleTimeout ${s.idleTimeout} s): the last-seen time that idle expiry is judged from is written only every touchInterval, so sessions in use would expire`,
      });
    }
    if (s.refreshLock.ttlMs <= s.provider.timeoutMs) ctx.addIssue({ code: 'custom', path: ['refreshLock', 'ttlMs'], message: 'must exceed provider.timeoutMs' });
    const ids = new Set<string>();
    s.keys.forEach((k, i) => {
      if (ids.has(k.id)) ctx.addIssue({ code: 'custom', path: ['keys', i, 'id'], message: 'duplicate key id' });
      ids.add(k.id);
    });
  });

export type SessionsConfig = z.infer<typeof SessionsSchema>;
export type SessionsConfigInput = z.input<typeof SessionsSchema>;
