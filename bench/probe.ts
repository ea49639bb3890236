import { request } from 'node:http';

/** Status of one request to a target, with an optional credential header. */
export function probeStatus(port: number, path: string, header: string, value: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = header ? { [header]: value } : {};
    const req = request({ host: '127.0.0.1', port, path, headers, timeout: 5000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('probe timed out')));
    req.end();
  });
}

/**
 * Checks a target answers the mode's first credential with the expected status,
 * retrying briefly while it finishes starting (a gateway may still load keys).
 * Resolves to undefined when it does, else to what went wrong.
 */
export async function probeTarget(
  port: number,
  path: string,
  header: string,
  value: string,
  expect: number,
): Promise<string | undefined> {
  let last = '';
  for (let attempt = 0; attempt < 30; attempt++) {
    try {
      const status = await probeStatus(port, path, header, value);
      if (status === expect) return undefined;
      last = `answered ${status}, expected ${expect}`;
      // 503 while starting up is worth waiting for; a wrong verdict is not.
      if (status !== 503) return last;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return last;
}

/**
 * Sums `gatehouse_token_cache_total` by result from the gateway's Prometheus
 * text, over every cache or only the one named (`jwt`, `introspection`);
 * undefined when no such series is there.
 */
export function cacheCountsFromMetrics(text: string, cache?: string): { hit: number; miss: number } | undefined {
  const counts = { hit: 0, miss: 0 };
  let seen = false;
  for (const line of text.split('\n')) {
    if (!line.startsWith('gatehouse_token_cache_total{')) continue;
    if (cache !== undefined && /cache="([^"]*)"/.exec(line)?.[1] !== cache) continue;
    const result = /result="(\w+)"/.exec(line)?.[1];
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if ((result === 'hit' || result === 'miss') && Number.isFinite(value)) {
      counts[result] += value;
      seen = true;
    }
  }
  return seen ? counts : undefined;
}

/** The gateway's token-cache counts from its admin `/metrics` (see {@link cacheCountsFromMetrics}). */
export async function gatewayCacheCounts(adminUrl: string, cache?: string): Promise<{ hit: number; miss: number } | undefined> {
  try {
    const res = await fetch(`${adminUrl}/metrics`, { signal: AbortSignal.timeout(3000) });
    if (!res.ok) return undefined;
    return cacheCountsFromMetrics(await res.text(), cache);
  } catch {
    return undefined;
  }
}
