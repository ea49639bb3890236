import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseResultLine, type LoadGenerator, type LoadResult, type LoadSpec } from './load.js';

// Requests are formatted once in init(), so the per-request cost in wrk is one
// table lookup; each value in the list is sent once per pass, in order.
const ROTATE_LUA = `
local reqs = {}
local n = 0
-- Global, so done() can read where thread 1 stopped (thread:get) and the next run continues there.
i = 0
local threads_list = {}

function setup(thread)
  thread:set("tid", #threads_list)
  table.insert(threads_list, thread)
end

function init(args)
  local file, header, prefix = args[1], args[2] or "", args[3] or ""
  local threads = tonumber(args[4]) or 1
  local start = tonumber(args[5]) or 0
  -- POST: the value goes into the body after the prefix; args 8… are fixed "Name: value" headers.
  local method, body_prefix = args[6] or "GET", args[7] or ""
  local fixed = {}
  for k = 8, #args do
    local name, value = string.match(args[k], "^([^:]+): (.*)$")
    if name then fixed[name] = value end
  end
  local f = assert(io.open(file, "r"))
  for line in f:lines() do
    if line ~= "" then
      n = n + 1
      local headers = {}
      for name, value in pairs(fixed) do headers[name] = value end
      if header ~= "" then headers[header] = prefix .. line end
      local body = nil
      if method == "POST" then body = body_prefix .. line end
      reqs[n] = wrk.format(method, nil, headers, body)
    end
  end
  f:close()
  -- Threads start at different points of the list, so they do not send the same value at once.
  i = (start + math.floor(n * (tid or 0) / threads)) % n
end

function request()
  i = i + 1
  if i > n then i = 1 end
  return reqs[i]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "GH_RESULT requests=%d duration_us=%d connect=%d read=%d write=%d status=%d timeout=%d p50=%.1f p99=%.1f next=%d\\n",
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), threads_list[1]:get("i") or 0))
end
`;

/** wrk's command-line arguments for one run of the rotating script (after `wrk` itself). */
export function wrkArguments(spec: LoadSpec, script: string, threads: number): string[] {
  const post = spec.post
    ? ['POST', spec.post.bodyPrefix, ...Object.entries(spec.post.headers).map(([name, value]) => `${name}: ${value}`)]
    : [];
  return [
    `-t${threads}`,
    `-c${spec.connections}`,
    `-d${spec.durationS}s`,
    '--timeout',
    '5s',
    '-s',
    script,
    spec.url,
    '--',
    spec.valuesFile,
    spec.header,
    spec.prefix,
    String(threads),
    String(spec.startIndex),
    ...post,
  ];
}

/** wrk (the Debian package) driven by a Lua script that rotates credentials. */
export function wrkGenerator(opts: { wrk: string; taskset: string | undefined; workDir: string; threads: number }): LoadGenerator {
  const script = join(opts.workDir, 'rotate.lua');
  writeFileSync(script, ROTATE_LUA);
  return {
    name: 'wrk',
    run(spec: LoadSpec): Promise<LoadResult> {
      const threads = Math.min(opts.threads, spec.connections);
      const wrkArgs = wrkArguments(spec, script, threads);
      const [cmd, args] =
        opts.taskset && spec.core !== undefined ? [opts.taskset, ['-c', String(spec.core), opts.wrk, ...wrkArgs]] : [opts.wrk, wrkArgs];
      return new Promise((resolve, reject) => {
        execFile(cmd, args, { maxBuffer: 1 << 20, timeout: (spec.durationS + 30) * 1000 }, (err, stdout, stderr) => {
          if (err) reject(new Error(`wrk failed: ${err.message}\n${stderr}`));
          else {
            try {
              resolve(parseResultLine(stdout));
            } catch (parseErr) {
              reject(parseErr as Error);
            }
          }
        });
      });
    },
  };
}
