import { BlockList, isIP } from 'node:net';

/** Decides whether a connecting peer is a proxy whose X-Forwarded-* headers we keep. */
export interface TrustedProxies {
  readonly isEmpty: boolean;
  isTrusted(peer: string | undefined): boolean;
}

/**
 * Compiles `trustedProxies` (IPv4/IPv6 addresses and CIDR blocks) once. Throws on
 * an entry that is neither, so a typo cannot silently trust nobody or everybody.
 * An IPv4-mapped IPv6 peer (`::ffff:10.0.0.1`, as a dual-stack socket reports it)
 * is checked as the IPv4 address it is.
 */
export function createTrustedProxies(entries: readonly string[]): TrustedProxies {
  const list = new BlockList();
  for (const entry of entries) {
    const slash = entry.indexOf('/');
    const address = slash < 0 ? entry : entry.slice(0, slash);
    const family = isIP(address);
    if (family === 0) throw new Error(`trustedProxies: not an IP address or CIDR: ${entry}`);
    const type = family === 4 ? 'ipv4' : 'ipv6';
    if (slash < 0) {
      list.addAddress(address, type);
      continue;
    }
    const bits = Number(entry.slice(slash + 1));
    const max = family === 4 ? 32 : 128;
    if (!Number.isInteger(bits) || bits < 0 || bits > max || entry.slice(slash + 1) === '') {
      throw new Error(`trustedProxies: bad prefix length in ${entry}`);
    }
    list.addSubnet(address, bits, type);
  }
  const isEmpty = entries.length === 0;
  return {
    isEmpty,
    isTrusted(peer) {
      if (isEmpty || !peer) return false;
      const address = unmapIPv4(peer);
      return list.check(address, address.includes(':') ? 'ipv6' : 'ipv4');
    },
  };
}

/** An IPv4-mapped IPv6 address (`::ffff:10.0.0.1`, as a dual-stack socket reports it) as its IPv4 address. */
export function unmapIPv4(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

/**
 * The client's address as the nearest trusted proxy saw it: the socket peer;
 * or, when the peer is a trusted proxy, the right-most `X-Forwarded-For` entry
 * that is not itself a trusted proxy. Entries further left are whatever the
 * client chose to send, so they are never read.
 */
export function clientAddress(trusted: TrustedProxies, peer: string | undefined, forwardedFor: string | string[] | undefined): string {
  const direct = peer ?? 'unknown';
  if (forwardedFor === undefined || !trusted.isTrusted(peer)) return direct;
  const hops = (Array.isArray(forwardedFor) ? forwardedFor.join(',') : forwardedFor).split(',');
  let address = direct;
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = hopAddress((hops[i] as string).trim());
    // Not an address: the hop that wrote it is the last one known, so its address stands (a
    // per-address limit then counts that proxy's clients together rather than none of them).
    if (hop === undefined) break;
    address = hop;
    if (!trusted.isTrusted(hop)) break;
  }
  return address;
}

/**
 * An X-Forwarded-For entry as a bare IP address: some proxies write `a.b.c.d:port` or
 * `[v6]:port` (one client would count as a new address per connection); undefined for
 * anything that is no address at all.
 */
function hopAddress(hop: string): string | undefined {
  if (isIP(hop) !== 0) return hop;
  const bracketed = /^\[([^\]]+)\](?::\d{1,5})?$/.exec(hop);
  if (bracketed) return isIP(bracketed[1] as string) === 6 ? (bracketed[1] as string) : undefined;
  const v4WithPort = /^(\d{1,3}(?:\.\d{1,3}){3}):\d{1,5}$/.exec(hop);
  return v4WithPort && isIP(v4WithPort[1] as string) === 4 ? (v4WithPort[1] as string) : undefined;
}
