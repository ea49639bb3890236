/**
 * Gatehouse service kit: verify the gateway's tokens again inside a service
 * (defense in depth), with the same core the gateway uses. Imports nothing but
 * the token core and the error catalog; express and fastify are not needed at
 * run time (the middlewares only rely on the shapes of their objects).
 *
 * @packageDocumentation
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Identity } from '../tokens/identity.js';
import { withIssuerDefaults, type IssuerInput, type TokenVerifier, type VerifierOptions } from '../tokens/jwt/options.js';
import { createTokenVerifier } from '../tokens/jwt/verifier.js';
import { checkWith, guardOptions, internalCause, sendRejection, type RequireTokenOptions } from './guard.js';

export type { Identity } from '../tokens/identity.js';
export type { IssuerInput, IssuerOptions, TokenVerifier, VerifierHooks, VerifierOptions } from '../tokens/jwt/options.js';
export { GatehouseError, type ErrorCode } from '../errors.js';
export { inspectToken, type TokenInspection } from '../tokens/jwt/inspect.js';
export { checkRequest, guardOptions, type GuardOptions, type GuardResult, type Rejection, type RequireTokenOptions } from './guard.js';

/**
 * Builds a verifier for one issuer or several. Fields the gateway's config
 * would default (`clockSkew` 30 s, `jwks` limits) are optional here. Throws at
 * once on options that can never work, a `publicKey` file that cannot be read
 * or imported among them (naming the issuer and the file).
 *
 * At start, await `newKeysLoaded`: it settles within `jwks.timeoutMs`, and
 * rejects with the reason when the JWKS did not answer. Do not await `ready`
 * there: it never rejects, it waits for as long as the JWKS is down, and the
 * retry timer does not hold the process open, so a service that awaits it
 * before listening just ends, with exit code 0 (13 under a top-level await)
 * and nothing said. `ready` is for a readiness probe (or use `isReady()`).
 *
 * @example
 * ```ts
 * import { createVerifier } from 'gatehouse/kit';
 * const verifier = createVerifier({
 *   issuer: 'https://auth.example.com',
 *   audience: 'orders-service',
 *   jwksUri: 'https://auth.example.com/jwks',
 *   algorithms: ['RS256', 'ES256'],
 * });
 * try {
 *   await verifier.newKeysLoaded; // the JWKS answered, within jwks.timeoutMs
 * } catch (err) {
 *   // "issuer https://auth.example.com: JWKS fetch failed: timed out". Exit, or serve anyway:
 *   // tokens get 503 GH_KEYS_UNAVAILABLE until a retry brings the keys.
 *   console.error((err as Error).message);
 *   process.exit(1);
 * }
 * const identity = await verifier.verify(token); // throws GatehouseError
 * ```
 */
export function createVerifier(options: IssuerInput | readonly IssuerInput[], opts?: VerifierOptions): TokenVerifier {
  const list = (Array.isArray(options) ? options : [options]) as readonly IssuerInput[];
  return createTokenVerifier(list.map(withIssuerDefaults), opts);
}

/**
 * For plain `node:http`: checks the request and resolves to the identity, or
 * writes the 401/403 (problem+json, `WWW-Authenticate`) and resolves to
 * `undefined`, after which the handler must simply return. Throws a TypeError
 * at once for options {@link guardOptions} refuses.
 *
 * @example
 * ```ts
 * const guard = requireToken(verifier, { scopes: ['orders:read'] });
 * http.createServer(async (req, res) => {
 *   const identity = await guard(req, res);
 *   if (!identity) return;
 *   res.end(`hello ${identity.subject}`);
 * });
 * ```
 */
export function requireToken(
  verifier: TokenVerifier,
  opts: RequireTokenOptions = {},
): (req: IncomingMessage, res: ServerResponse) => Promise<Identity | undefined> {
  const checked = guardOptions(opts);
  return async (req, res) => {
    const result = await checkWith(verifier, req.headers, req.rawHeaders, checked);
    if (result.ok) return result.identity;
    sendRejection(res, result.rejection);
    return undefined;
  };
}

/**
 * An Express (or Connect) request after {@link requireTokenExpress}: `req.identity` is set.
 *
 * @example
 * ```ts
 * const who = (req as RequestWithIdentity).identity?.subject;
 * ```
 */
export type RequestWithIdentity = IncomingMessage & { identity?: Identity };

/**
 * Express / Connect middleware: sets `req.identity` and calls `next()`, or
 * answers 401/403 itself. Express is not a dependency of the kit. Throws a
 * TypeError at once for options {@link guardOptions} refuses.
 *
 * @example
 * ```ts
 * app.get('/orders', requireTokenExpress(verifier, { scopes: ['orders:read'] }), (req, res) => {
 *   res.json({ user: (req as RequestWithIdentity).identity!.subject });
 * });
 * ```
 */
export function requireTokenExpress(
  verifier: TokenVerifier,
  opts: RequireTokenOptions = {},
): (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void {
  const checked = guardOptions(opts);
  return (req, res, next) => {
    checkWith(verifier, req.headers, req.rawHeaders, checked).then((result) => {
      // Answered while we verified (a timeout middleware): the route must not run, nor a second answer go out.
      if (res.headersSent || res.writableEnded) return;
      if (result.ok) {
        (req as RequestWithIdentity).identity = result.identity;
        next();
        return;
      }
      // A fault (not a refusal) goes to the application's error handler, with its cause.
      const fault = internalCause(result.rejection);
      if (fault !== undefined) return next(fault);
      try {
        sendRejection(res, result.rejection);
      } catch (err) {
        // Thrown in this callback it would be an unhandled rejection, which ends the process.
        next(err);
      }
    }, next);
  };
}

/**
 * The parts of a Fastify request the hook reads (Fastify is not a dependency of the kit).
 *
 * @example
 * ```ts
 * declare module 'fastify' { interface FastifyRequest { identity: Identity | null } }
 * ```
 */
export interface FastifyLikeRequest {
  readonly headers: IncomingHttpHeaders;
  readonly raw: IncomingMessage;
  identity?: Identity | null;
}

/**
 * The parts of a Fastify reply the hook uses; a real `FastifyReply` fits.
 *
 * @example
 * ```ts
 * const hook = requireTokenFastify(verifier); // (request, reply: FastifyLikeReply) => …
 * ```
 */
export interface FastifyLikeReply {
  code(status: number): FastifyLikeReply;
  headers(values: Record<string, string>): FastifyLikeReply;
  send(payload?: unknown): FastifyLikeReply;
}

/**
 * Fastify `preHandler` hook: sets `request.identity`, or replies 401/403 and
 * ends the request. Declare the property once for a stable object shape.
 * Throws a TypeError at once for options {@link guardOptions} refuses.
 *
 * @example
 * ```ts
 * fastify.decorateRequest('identity', null);
 * fastify.get('/orders', { preHandler: requireTokenFastify(verifier, { scopes: ['orders:read'] }) },
 *   async (request) => ({ user: request.identity.subject }));
 * ```
 */
export function requireTokenFastify(
  verifier: TokenVerifier,
  opts: RequireTokenOptions = {},
): (request: FastifyLikeRequest, reply: FastifyLikeReply) => Promise<FastifyLikeReply | undefined> {
  const checked = guardOptions(opts);
  return async (request, reply) => {
    const result = await checkWith(verifier, request.headers, request.raw.rawHeaders, checked);
    if (result.ok) {
      request.identity = result.identity;
      return undefined;
    }
    const r = result.rejection;
    // A fault (not a refusal) is thrown, so Fastify's error handling logs it with its cause.
    const fault = internalCause(r);
    if (fault !== undefined) throw fault;
    // An async hook that sent a reply must return it, so Fastify skips the handler.
    return reply.code(r.status).headers(r.headers).send(r.body);
  };
}
