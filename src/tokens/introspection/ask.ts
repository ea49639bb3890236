import type { Dispatcher } from 'undici';
import { networkCode, unavailable } from './failure.js';
import { exchange, ExchangeFailed } from './http.js';
import { parseIntrospectionResponse, type IntrospectionOutcome, type ResponseExpectations } from './response.js';

/** What one introspection exchange needs from its client. */
export interface EndpointCall {
  readonly dispatcher: Dispatcher;
  /** The gateway's `client_secret_basic` header value. */
  readonly authorization: string;
  /** The cap on one answer's body. */
  readonly maxBytes: number;
  readonly expect: ResponseExpectations;
  /** Epoch milliseconds. */
  readonly now: () => number;
}

/**
 * Asks the endpoint about one token (RFC 7662 form POST, `token_type_hint=access_token`)
 * and reads the answer strictly. Resolves to a definite answer; throws
 * GH_INTROSPECTION_UNAVAILABLE (tagged with its RequestResult) when there is none.
 * The exchange and its one retry all run within `deadline`, the lookup's timeoutMs.
 */
export async function askEndpoint(call: EndpointCall, url: string, token: string, deadline: AbortSignal): Promise<IntrospectionOutcome> {
  const request = {
    method: 'POST' as const,
    headers: {
      authorization: call.authorization,
      accept: 'application/json',
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ token, token_type_hint: 'access_token' }).toString(),
    maxBytes: call.maxBytes,
    deadline,
  };
  let res;
  for (let attempt = 1; ; attempt++) {
    try {
      res = await exchange(call.dispatcher, url, request);
      break;
    } catch (err) {
      const reason = err instanceof ExchangeFailed ? err.reason : 'network';
      // A pooled connection the server closed while idle fails with a reset. Introspection has no
      // side effects, so one fresh attempt is safe, within what is left of the same deadline;
      // a timeout is not retried (it already cost timeoutMs).
      if (reason === 'network' && attempt === 1 && !deadline.aborted) continue;
      if (deadline.aborted || reason === 'timeout') throw unavailable('request failed: timeout', 'timeout', err);
      if (reason === 'too-large') throw unavailable('request failed: too-large', 'bad_response', err);
      const code = networkCode(err);
      throw unavailable(`request failed: network${code === undefined ? '' : ` (${code})`}`, 'network', err);
    }
  }
  const error = (res.json as { error?: unknown } | undefined)?.error;
  // oidc-provider answers this for a JWT: it is not a token this endpoint can vouch for.
  if (res.status === 400 && error === 'unsupported_token_type') {
    return { active: false, code: 'GH_TOKEN_INVALID', message: 'token cannot be introspected' };
  }
  if (res.status === 401 || res.status === 403) {
    throw unavailable(`the server rejected the gateway's client credentials (${res.status})`, 'client_rejected');
  }
  if (res.status !== 200) throw unavailable(`endpoint answered ${res.status}`, 'bad_status');
  // The media type exactly (`application/jsonp` is not JSON); parameters such as charset may follow.
  if (res.contentType.split(';', 1)[0]!.trim() !== 'application/json') {
    throw unavailable('response is not application/json', 'bad_response');
  }
  return parseIntrospectionResponse(res.json, token, call.expect, call.now() / 1000);
}
