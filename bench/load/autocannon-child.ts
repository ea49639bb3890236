import { readFileSync } from 'node:fs';
import type { LoadSpec } from './load.js';

// autocannon ships no type declarations; this is the part of its API used here.
interface AutocannonRequest {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
}
interface AutocannonResult {
  requests: { total: number };
  duration: number;
  errors: number;
  timeouts: number;
  latency: { p50: number; p99: number };
  statusCodeStats?: Record<string, { count: number }>;
}
type Autocannon = (opts: {
  url: string;
  connections: number;
  duration: number;
  requests: { setupRequest: (req: AutocannonRequest) => AutocannonRequest }[];
}) => Promise<AutocannonResult>;
const moduleName = 'autocannon';
const autocannon = ((await import(moduleName)) as { default: Autocannon }).default;

// Fallback load generator when wrk is absent: autocannon in its own process
// (pinned like wrk would be), printing the same GH_RESULT line as the wrk script.
const spec = JSON.parse(process.env.GH_BENCH_LOAD ?? '{}') as LoadSpec;
const values = readFileSync(spec.valuesFile, 'utf8').trimEnd().split('\n');
let next = spec.startIndex % values.length;

const result = await autocannon({
  url: spec.url,
  connections: spec.connections,
  duration: spec.durationS,
  requests: [
    {
      setupRequest: (req) => {
        if (spec.header || spec.post) {
          const value = values[next]!;
          next = next + 1 === values.length ? 0 : next + 1;
          if (spec.post) {
            req.method = 'POST';
            req.headers = { ...req.headers, ...spec.post.headers };
            req.body = spec.post.bodyPrefix + value;
          } else req.headers = { ...req.headers, [spec.header]: spec.prefix + value };
        }
        return req;
      },
    },
  ],
});
const stats = result.statusCodeStats ?? {};
const errorStatuses = Object.entries(stats)
  .filter(([code]) => Number(code) >= 400)
  .reduce((sum, [, s]) => sum + s.count, 0);
const ms = (v: number) => (v * 1000).toFixed(1);
console.log(
  `GH_RESULT requests=${result.requests.total} duration_us=${Math.round(result.duration * 1e6)} connect=${result.errors} read=0 write=0` +
    ` status=${errorStatuses} timeout=${result.timeouts} p50=${ms(result.latency.p50)} p99=${ms(result.latency.p99)} next=${next}`,
);
