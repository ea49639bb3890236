import type { Dispatcher } from 'undici';
import { GatehouseError } from '../../errors.js';
import { exchange } from './http.js';

/** Metadata documents tried in order: OpenID discovery, then RFC 8414. */
export function metadataUrls(issuer: string): string[] {
  const url = new URL(issuer);
  const path = url.pathname.replace(/\/$/, '');
  return [
    `${url.origin}${path}/.well-known/openid-configuration`,
    // RFC 8414 §3.1 inserts the well-known segment before the issuer's path.
    `${url.origin}/.well-known/oauth-authorization-server${path}`,
  ];
}

/**
 * Finds the introspection endpoint in the issuer's metadata. The metadata's
 * `issuer` must equal the configured one (RFC 8414 §3.3), so a document served
 * for another issuer cannot redirect the gateway's client secret. Both documents
 * are tried within the one `deadline`.
 */
export async function discoverIntrospectionEndpoint(
  dispatcher: Dispatcher,
  issuer: string,
  opts: { deadline: AbortSignal; maxBytes: number; isAllowedUrl: (url: string) => boolean },
): Promise<string> {
  let lastProblem = 'no metadata document found';
  for (const url of metadataUrls(issuer)) {
    let res;
    try {
      res = await exchange(dispatcher, url, {
        method: 'GET',
        headers: { accept: 'application/json' },
        maxBytes: opts.maxBytes,
        deadline: opts.deadline,
      });
    } catch (err) {
      throw unavailable('metadata request failed', err);
    }
    if (res.status === 404) continue;
    const meta = res.json as Record<string, unknown> | undefined;
    if (res.status !== 200 || typeof meta !== 'object' || meta === null) {
      lastProblem = `metadata answered ${res.status}`;
      continue;
    }
    if (meta.issuer !== issuer) throw unavailable('metadata names another issuer');
    const endpoint = meta.introspection_endpoint;
    if (typeof endpoint !== 'string' || !URL.canParse(endpoint) || !opts.isAllowedUrl(endpoint)) {
      throw unavailable('metadata has no usable introspection_endpoint');
    }
    return endpoint;
  }
  throw unavailable(lastProblem);
}

function unavailable(why: string, cause?: unknown): GatehouseError {
  return new GatehouseError('GH_INTROSPECTION_UNAVAILABLE', 'introspection endpoint unavailable', {
    cause: new Error(why, { cause }),
  });
}
