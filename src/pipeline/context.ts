import type { IncomingMessage } from 'node:http';
import type { Identity } from '../tokens/identity.js';

export type { Identity };

/** What was extracted from the request before any verification. */
export interface Credential {
  /** Value of `Authorization: Bearer <token>`, when present and well-formed. */
  readonly bearer?: string;
}

/** Per-request state threaded through the pipeline stages. */
export interface RequestContext {
  readonly req: IncomingMessage;
  readonly requestId: string;
  /** The normalized path, used for both matching and forwarding. */
  readonly path: string;
  /** The raw query string including '?', or ''. */
  readonly query: string;
  credential: Credential | undefined;
  identity: Identity | undefined;
  /**
   * Response headers a stage adds, flat `[name, value, …]`: Set-Cookie from a
   * session refresh or a cleared session, Location for a login redirect. Sent
   * with the upstream response and with an error response alike.
   */
  responseHeaders?: string[];
}

export type AuthnResult =
  | { status: 'authenticated'; identity: Identity }
  | { status: 'skipped' }; // not my credential; the next one tries

/** One credential type. Throws a GatehouseError when the credential is its own but bad. */
export interface Authenticator {
  readonly kind: string;
  authenticate(ctx: RequestContext): Promise<AuthnResult>;
}
