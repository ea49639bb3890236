/**
 * Whether a host name or address is the loopback interface: `localhost`, `::1`
 * (bracketed or not) and 127.0.0.0/8. Plain HTTP is allowed there only, by the
 * gateway's listener and by the authorization service's issuer. Its own module
 * so that both config schemas share it without an import cycle.
 */
export function isLoopbackAddress(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}
