import { GatehouseError } from '../../errors.js';

/**
 * How a lookup that needed the endpoint ended, the `result` label of
 * `gatehouse_introspection_requests_total`: an answer (`active`, `refused`) or
 * why there was none.
 */
export type RequestResult =
  | 'active'
  | 'refused'
  | 'timeout'
  | 'network'
  | 'bad_status'
  | 'client_rejected'
  | 'bad_response'
  | 'overloaded'
  | 'discovery_failed';

const results = new WeakMap<GatehouseError, RequestResult>();

/** A 503 GH_INTROSPECTION_UNAVAILABLE whose cause says why (never with the token). */
export function unavailable(why: string, result: RequestResult, cause?: unknown): GatehouseError {
  const err = new GatehouseError('GH_INTROSPECTION_UNAVAILABLE', 'introspection endpoint unavailable', {
    cause: new Error(why, { cause }),
  });
  results.set(err, result);
  return err;
}

/** The result of a failed lookup; a response the parser refused is a bad response. */
export function resultOf(err: unknown): RequestResult {
  return (err instanceof GatehouseError && results.get(err)) || 'bad_response';
}

/**
 * The system or TLS error code under a network failure (ECONNREFUSED, ENOTFOUND,
 * CERT_HAS_EXPIRED, …), preferred over undici's own wrappers (UND_ERR_SOCKET).
 * Codes are fixed names: they never carry the token or the secret.
 */
export function networkCode(err: unknown): string | undefined {
  let first: string | undefined;
  for (let e = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code !== 'string' || code.startsWith('GH_')) continue;
    if (!code.startsWith('UND_ERR_')) return code;
    first ??= code;
  }
  return first;
}
