/**
 * Whether a host name or address is the loopback interface: `localhost`, `::1`
 * (bracketed or not) and 127.0.0.0/8. Plain HTTP is allowed there only: on the
 * gateway's listener, for the URLs it fetches from (JWKS, introspection), for
 * the authorization service's issuer and redirect URIs. A top-level module, like
 * timers.ts, so that the config schemas and the token core (which the service
 * kit uses without config/) share one copy.
 */
export function isLoopbackAddress(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/** An https URL, or plain http to a loopback address: where tokens, secrets and codes may travel. */
export function isSafeEndpointUrl(text: string): boolean {
  const url = new URL(text);
  return url.protocol === 'https:' || (url.protocol === 'http:' && isLoopbackAddress(url.hostname));
}

/**
 * The problem with a URL the gateway or the kit fetches from, or undefined:
 * https (http on loopback only), and no `user:password@`, which `config check`
 * and logs would print and fetch() refuses outright (a JWKS or discovery
 * endpoint needs no credentials; introspection authenticates with
 * `clientId`/`clientSecret`).
 */
export function endpointUrlProblem(text: string): string | undefined {
  if (!URL.canParse(text)) return 'must be an absolute URL';
  if (!isSafeEndpointUrl(text)) return 'must be https (http is allowed on loopback only)';
  const url = new URL(text);
  if (url.username !== '' || url.password !== '') return 'must not carry credentials (user:password@)';
  return undefined;
}
