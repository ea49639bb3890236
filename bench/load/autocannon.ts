import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseResultLine, type LoadGenerator, type LoadResult, type LoadSpec } from './load.js';

/** autocannon in a separate process: used only when wrk is not installed (a Node generator costs more CPU per request). */
export function autocannonGenerator(opts: { taskset: string | undefined }): LoadGenerator {
  const script = fileURLToPath(new URL('./autocannon-child.js', import.meta.url));
  return {
    name: 'autocannon (wrk not found)',
    run(spec: LoadSpec): Promise<LoadResult> {
      const [cmd, args] =
        opts.taskset && spec.core !== undefined
          ? [opts.taskset, ['-c', String(spec.core), process.execPath, script]]
          : [process.execPath, [script]];
      return new Promise((resolve, reject) => {
        execFile(
          cmd,
          args,
          { env: { ...process.env, GH_BENCH_LOAD: JSON.stringify(spec) }, maxBuffer: 1 << 20, timeout: (spec.durationS + 30) * 1000 },
          (err, stdout, stderr) => {
            if (err) reject(new Error(`autocannon failed: ${err.message}\n${stderr}`));
            else {
              try {
                resolve(parseResultLine(stdout));
              } catch (parseErr) {
                reject(parseErr as Error);
              }
            }
          },
        );
      });
    },
  };
}
