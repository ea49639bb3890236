import { GatehouseError } from '../errors.js';
import type { IdentityCheck } from './authorize/scopes.js';
import type { Authenticator, AuthnResult, Credential, RequestContext } from './context.js';
import { checkBearerSyntax, extractCredential, UNRECOGNIZED_CREDENTIAL } from './extract.js';

/** A route's compiled policy: who may call it. */
export interface RoutePolicy {
  /** Tried in order; empty for a public route. */
  readonly authenticators: readonly Authenticator[];
  /** `auth` includes `none`: a caller without a credential passes, anonymously. */
  readonly allowAnonymous: boolean;
  /** Scope, claim and issuer checks, run on the identity. */
  readonly checks: readonly IdentityCheck[];
}

/** An authenticator that can often decide without waiting (e.g. a token it has already verified). */
export interface SyncCapableAuthenticator extends Authenticator {
  /**
   * Same contract as `authenticate`, answered synchronously; `undefined` when it
   * cannot decide without waiting, and `authenticate` must be called instead.
   * A refusal may be returned instead of thrown: on a path an attacker drives
   * (a flood of forgeries) every call would otherwise end in a throw, and V8
   * never optimizes a function that never returns.
   */
  authenticateSync?(ctx: RequestContext): AuthnResult | GatehouseError | undefined;
}

/**
 * Runs extract → authenticate → authorize for one request and leaves the
 * identity on the context. Throws a GatehouseError to refuse the request.
 *
 * Authenticators answer `skipped` for credentials that are not theirs; when all
 * of them skip, the answer depends on what was sent: no Bearer token (nothing,
 * or another scheme such as Basic) → 401 GH_TOKEN_MISSING with a bare challenge
 * (RFC 6750 §3.1: a client using an unsupported method gets no error code),
 * a token nobody reads → 401 GH_TOKEN_MALFORMED.
 */
export async function runPipeline(policy: RoutePolicy, ctx: RequestContext): Promise<void> {
  const resumeAt = runPipelineSync(policy, ctx);
  if (resumeAt instanceof GatehouseError) throw resumeAt;
  if (resumeAt >= 0) await resumePipeline(policy, ctx, resumeAt);
}

/**
 * The same pipeline as {@link runPipeline}, run as far as it goes without
 * waiting: a cached token costs no promise. Returns -1 when the request is
 * admitted (identity on the context), the refusal when an authenticator
 * returned one (other refusals are thrown), otherwise the index of the
 * authenticator that must be awaited: pass it to {@link resumePipeline}.
 */
export function runPipelineSync(policy: RoutePolicy, ctx: RequestContext): number | GatehouseError {
  const { authenticators } = policy;
  if (authenticators.length === 0) return -1;
  const credential = (ctx.credential = extractCredential(ctx.req, ctx.query));
  for (let i = 0; i < authenticators.length; i++) {
    const a = authenticators[i] as SyncCapableAuthenticator;
    // Before any real verification: see checkBearerSyntax for why not earlier.
    if (a.authenticateSync === undefined) return waitFor(i, credential);
    const result = a.authenticateSync(ctx);
    if (result === undefined) return waitFor(i, credential);
    if (result instanceof GatehouseError) return result;
    if (result.status === 'authenticated') {
      ctx.identity = result.identity;
      break;
    }
  }
  authorize(policy, ctx);
  return -1;
}

/** Continues {@link runPipelineSync} from the authenticator it stopped at. */
export async function resumePipeline(policy: RoutePolicy, ctx: RequestContext, from: number): Promise<void> {
  const { authenticators } = policy;
  for (let i = from; i < authenticators.length; i++) {
    const result = await (authenticators[i] as Authenticator).authenticate(ctx);
    if (result.status === 'authenticated') {
      ctx.identity = result.identity;
      break;
    }
  }
  authorize(policy, ctx);
}

function waitFor(index: number, credential: Credential | undefined): number {
  checkBearerSyntax(credential);
  return index;
}

function authorize(policy: RoutePolicy, ctx: RequestContext): void {
  const identity = ctx.identity;
  if (identity === undefined) {
    // A malformed Bearer is refused as such, also where anonymous callers pass.
    checkBearerSyntax(ctx.credential);
    if (policy.allowAnonymous) return;
    const credential = ctx.credential;
    if (credential === undefined || credential === UNRECOGNIZED_CREDENTIAL) {
      throw new GatehouseError('GH_TOKEN_MISSING', 'a Bearer token is required');
    }
    throw new GatehouseError('GH_TOKEN_MALFORMED', 'the credential is not in a form this route accepts');
  }
  const checks = policy.checks;
  for (let i = 0; i < checks.length; i++) (checks[i] as IdentityCheck)(identity);
}
