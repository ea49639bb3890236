/** One load run against one target. */
export interface LoadSpec {
  readonly url: string;
  readonly connections: number;
  readonly durationS: number;
  /** Credential values, one per line, sent in rotation (each line once per pass). */
  readonly valuesFile: string;
  /** Header that carries each value (e.g. `Authorization`); empty sends no credential. */
  readonly header: string;
  /** Text before each value (e.g. `Bearer `). */
  readonly prefix: string;
  /** CPU core for the load generator; undefined leaves it unpinned. */
  readonly core?: number;
  /** Index in the list of the first value to send (0-based), so consecutive runs continue through the list. */
  readonly startIndex: number;
  /**
   * A POST instead of a GET (the authorization-service rates): each value goes
   * into the body after `bodyPrefix` (and `header` is empty), with these fixed headers.
   */
  readonly post?: PostSpec;
}

export interface PostSpec {
  readonly bodyPrefix: string;
  readonly headers: Readonly<Record<string, string>>;
}

export interface LoadResult {
  readonly requests: number;
  readonly durationS: number;
  readonly rps: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Responses with a status of 400 or more. */
  readonly errorStatuses: number;
  /** Connect, read, write errors and timeouts. */
  readonly socketErrors: number;
  /** Index of the next unsent value: where the next run should start. */
  readonly nextIndex: number;
}

export interface LoadGenerator {
  readonly name: string;
  run(spec: LoadSpec): Promise<LoadResult>;
}

/**
 * Parses the `GH_RESULT key=value …` line that both generators print. Latencies
 * are in microseconds there.
 */
export function parseResultLine(output: string): LoadResult {
  const line = output.split('\n').find((l) => l.startsWith('GH_RESULT '));
  if (!line) throw new Error(`load generator printed no result:\n${output.slice(-2000)}`);
  const v: Record<string, number> = {};
  for (const pair of line.slice('GH_RESULT '.length).trim().split(' ')) {
    const [k, val] = pair.split('=');
    v[k!] = Number(val);
  }
  const durationS = (v.duration_us ?? 0) / 1e6;
  const requests = v.requests ?? 0;
  return {
    requests,
    durationS,
    rps: durationS > 0 ? requests / durationS : 0,
    p50Ms: (v.p50 ?? 0) / 1000,
    p99Ms: (v.p99 ?? 0) / 1000,
    errorStatuses: v.status ?? 0,
    socketErrors: (v.connect ?? 0) + (v.read ?? 0) + (v.write ?? 0) + (v.timeout ?? 0),
    nextIndex: v.next ?? 0,
  };
}
