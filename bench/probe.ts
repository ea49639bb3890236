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

/** What the gateway says it answered: responses by status and authentication outcomes by reason, summed over routes. */
export interface GatewayAnswers {
  readonly statuses: Readonly<Record<string, number>>;
  readonly outcomes: Readonly<Record<string, number>>;
}

/**
 * Sums `gatehouse_requests_total` by status and `gatehouse_auth_outcomes_total`
 * by outcome from the gateway's Prometheus text. wrk only tells a status of 400
 * or more from one below; these tell a 401 for a bad signature from a 403, a
 * 429 or a 401 for a malformed token.
 */
export function answersFromMetrics(text: string): GatewayAnswers {
  const statuses: Record<string, number> = {};
  const outcomes: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const [table, label] = line.startsWith('gatehouse_requests_total{')
      ? [statuses, /status="([^"]*)"/.exec(line)?.[1]]
      : line.startsWith('gatehouse_auth_outcomes_total{')
        ? [outcomes, /outcome="([^"]*)"/.exec(line)?.[1]]
        : [undefined, undefined];
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (table && label !== undefined && Number.isFinite(value)) table[label] = (table[label] ?? 0) + value;
  }
  return { statuses, outcomes };
}

/** `after` minus `before`, per key, leaving out keys that did not move. */
export function answersBetween(before: GatewayAnswers, after: GatewayAnswers): GatewayAnswers {
  const minus = (a: Readonly<Record<string, number>>, b: Readonly<Record<string, number>>) =>
    Object.fromEntries(Object.entries(a).flatMap(([k, v]) => (v - (b[k] ?? 0) > 0 ? [[k, v - (b[k] ?? 0)]] : [])));
  return { statuses: minus(after.statuses, before.statuses), outcomes: minus(after.outcomes, before.outcomes) };
}

async function gatewayMetrics(adminUrl: string): Promise<string | undefined> {
  try {
    const res = await fetch(`${adminUrl}/metrics`, { signal: AbortSignal.timeout(3000) });
    return res.ok ? await res.text() : undefined;
  } catch {
    return undefined;
  }
}

/** The gateway's token-cache counts and answers from its admin `/metrics`; undefined when it cannot be read. */
export async function gatewayCounts(
  adminUrl: string,
  cache?: string,
): Promise<{ cache: { hit: number; miss: number } | undefined; answers: GatewayAnswers } | undefined> {
  const text = await gatewayMetrics(adminUrl);
  return text === undefined ? undefined : { cache: cacheCountsFromMetrics(text, cache), answers: answersFromMetrics(text) };
}
