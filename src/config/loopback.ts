/**
 * Whether a host name or address is the loopback interface: `localhost`, `::1`
 * (bracketed or not) and 127.0.0.0/8. Plain HTTP is allowed there only: on the
 * gateway's listener, for the URLs it fetches from, for the authorization
 * service's issuer and redirect URIs. Its own module so that both config
 * schemas share it without an import cycle.
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
