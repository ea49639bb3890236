import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BenchArgs } from './args.js';
import {
  basicAuthorization,
  BENCH_JWT_RESOURCE,
  BENCH_OPAQUE_RESOURCE,
  issueTokens,
  startBenchAuth,
  tokenRequestBody,
  type BenchAuth,
} from './fixtures/auth.js';
import type { LoadGenerator, PostSpec } from './load/load.js';
import { measureLoad } from './measure.js';
import type { RateResult } from './report/stats.js';
import type { Placement } from './targets/start.js';

/**
 * The authorization service's own rates (issue 3): not a proxy, so no bare-proxy
 * ratio. Each is a POST loaded with wrk against the service alone, pinned on the
 * server core like the targets of the gateway modes.
 */
export interface RateSpec {
  readonly id: string;
  /** `--modes as` selects all of them. */
  readonly group: string;
  readonly title: string;
  readonly path: string;
  /** The values sent in rotation (one per line) and the fixed part of each request. */
  prepare(auth: BenchAuth): Promise<{ valuesFile: string; first: string; post: PostSpec }>;
  /** Checks one answer before loading: undefined when it is right, else what is wrong. */
  check(status: number, body: Record<string, unknown>): string | undefined;
  readonly notes: readonly string[];
}

/** Fewer connections than the proxy modes: the service answers in milliseconds, and latency should stay readable. */
export const AUTH_RATE_MAX_CONNECTIONS = 16;

const FORM = 'application/x-www-form-urlencoded';
/** Opaque tokens issued before `as-introspect`, sent in rotation. */
const INTROSPECT_TOKENS = 100;

function issueSpec(id: string, kind: 'JWT' | 'opaque', resource: string, note: string): RateSpec {
  return {
    id,
    group: 'as',
    title: `client-credentials token issuance, ${kind} resource`,
    path: '/token',
    async prepare(auth) {
      const body = tokenRequestBody(resource);
      const valuesFile = join(auth.dir, `${id}.txt`);
      writeFileSync(valuesFile, `${body}\n`);
      return { valuesFile, first: body, post: { bodyPrefix: '', headers: { Authorization: basicAuthorization(auth.service), 'Content-Type': FORM } } };
    },
    check: (status, body) => (status === 200 && typeof body.access_token === 'string' ? undefined : `token request answered ${status}`),
    notes: [note],
  };
}

export function buildRateModes(): RateSpec[] {
  return [
    issueSpec('as-issue-jwt', 'JWT', BENCH_JWT_RESOURCE, 'POST /token, client_secret_basic, `grant_type=client_credentials&scope=orders:read&resource=…`: each answer is a new ES256-signed JWT (RFC 9068), stored nowhere.'),
    issueSpec('as-issue-opaque', 'opaque', BENCH_OPAQUE_RESOURCE, 'the same request for the opaque resource: each answer is a new random token, written to the SQLite store.'),
    {
      id: 'as-introspect',
      group: 'as',
      title: 'token introspection of opaque tokens',
      path: '/token/introspection',
      async prepare(auth) {
        const tokens = await issueTokens(auth, BENCH_OPAQUE_RESOURCE, INTROSPECT_TOKENS);
        const valuesFile = join(auth.dir, 'introspect-tokens.txt');
        writeFileSync(valuesFile, `${tokens.join('\n')}\n`, { mode: 0o600 });
        return {
          valuesFile,
          first: tokens[0]!,
          post: {
            bodyPrefix: 'token_type_hint=access_token&token=',
            headers: { Authorization: basicAuthorization(auth.gateway), 'Content-Type': FORM, Accept: 'application/json' },
          },
        };
      },
      check: (status, body) => (status === 200 && body.active === true ? undefined : `introspection answered ${status}, active ${String(body.active)}`),
      notes: [
        `POST /token/introspection as the gateway's client (client_secret_basic) of ${INTROSPECT_TOKENS} pre-issued opaque tokens in rotation, all active: ` +
          'a store read and a JSON answer per request, what the gateway pays on each introspection-cache miss.',
      ],
    },
  ];
}

async function probe(auth: BenchAuth, spec: RateSpec, first: string, post: PostSpec): Promise<string | undefined> {
  try {
    const res = await fetch(`${auth.issuer}${spec.path}`, {
      method: 'POST',
      headers: post.headers,
      body: post.bodyPrefix + first,
      signal: AbortSignal.timeout(10_000),
    });
    const body = (await res.json().catch(() => ({}))) as Record<string, unknown>;
    return spec.check(res.status, body);
  } catch (err) {
    return (err as Error).message;
  }
}

/** Runs one rate mode: a fresh service on the server core, a probe, a warm-up, then the rounds. */
export async function runRateMode(
  spec: RateSpec,
  args: BenchArgs,
  env: { generator: LoadGenerator; placement: Placement; workDir: string },
): Promise<RateResult> {
  const result: RateResult = { id: spec.id, title: spec.title, notes: spec.notes, samples: [], problems: [] };
  let auth: BenchAuth;
  try {
    auth = await startBenchAuth({ workDir: env.workDir, core: env.placement.serverCore, taskset: env.placement.taskset, verbose: args.verbose });
  } catch (err) {
    return { ...result, failed: (err as Error).message.split('\n').filter(Boolean).slice(0, 2).join(' ') };
  }
  try {
    const { valuesFile, first, post } = await spec.prepare(auth);
    const wrong = await probe(auth, spec, first, post);
    if (wrong) return { ...result, failed: `probe: ${wrong}` };
    let cursor = 0;
    const load = async (durationS: number) => {
      const r = await env.generator.run({
        url: `${auth.issuer}${spec.path}`,
        connections: Math.min(args.connections, AUTH_RATE_MAX_CONNECTIONS),
        durationS,
        valuesFile,
        header: '',
        prefix: '',
        core: env.placement.loadCore,
        startIndex: cursor,
        post,
      });
      cursor = r.nextIndex;
      return r;
    };
    await load(args.warmupS);
    for (let round = 0; round < args.rounds; round++) {
      const { sample, result: r } = await measureLoad(auth.child, env.placement, round, () => load(args.authDurationS));
      result.samples.push(sample);
      if (r.errorStatuses > 0) result.problems.push(`round ${round + 1}: ${r.errorStatuses} of ${r.requests} responses were not 200`);
      if (r.socketErrors > 0) result.problems.push(`round ${round + 1}: ${r.socketErrors} socket errors or timeouts`);
      if (args.verbose) console.log(`  ${spec.id} round ${round + 1}: ${Math.round(r.rps)} req/s`);
    }
    return result;
  } catch (err) {
    return { ...result, failed: (err as Error).message.split('\n')[0] };
  } finally {
    await auth.stop();
  }
}
