import { dirname, resolve } from 'node:path';
import { text } from 'node:stream/consumers';
import type { Command } from 'commander';
import { loadConfigFile } from '../../config/load.js';
import { configuredIssuers } from '../../config/schema.js';
import type { TokenInspection } from '../../tokens/jwt/inspect.js';
import type { TokenVerifier } from '../../tokens/jwt/options.js';
import { describeConfigFailure } from '../config-issues.js';
import { settleWithin } from '../../timers.js';

/** `gatehouse token inspect TOKEN [--config FILE]`: decode, and verify under the config when given. */
export function registerTokenCommand(program: Command): void {
  const token = program.command('token').description('work with tokens');
  token
    .command('inspect')
    .description('print a JWT\'s header and claims; with --config, whether and why it verifies under that configuration')
    .argument('<token>', 'the JWT, or - to read it from stdin (keeps it out of shell history and ps)')
    .option('-c, --config <file>', 'verify with the issuers, keys and rules of this configuration file')
    .action(async (arg: string, opts: { config?: string }) => {
      const jwt = (arg === '-' ? await text(process.stdin) : arg).trim();
      const [{ inspectToken }, { createTokenVerifier }] = await Promise.all([
        import('../../tokens/jwt/inspect.js'),
        import('../../tokens/jwt/verifier.js'),
      ]);
      let verifier: TokenVerifier | undefined;
      if (opts.config) {
        const file = opts.config;
        try {
          const cfg = await loadConfigFile(file);
          verifier = createTokenVerifier(configuredIssuers(cfg), { cacheMaxEntries: 0, baseDir: dirname(resolve(file)) });
          await waitForKeys(verifier, Math.max(...configuredIssuers(cfg).map((i) => i.jwks.timeoutMs), 1000) + 1000);
        } catch (err) {
          for (const line of describeConfigFailure(file, err)) console.error(line);
          process.exitCode = 1;
          return;
        }
      }
      try {
        const result = await inspectToken(jwt, verifier);
        console.log(JSON.stringify(present(result, Boolean(verifier)), null, 2));
        const decoded = result.header !== undefined && result.claims !== undefined;
        process.exitCode = decoded && (result.verified || !verifier) ? 0 : 1;
      } finally {
        verifier?.close();
      }
    });
}

/** A JWKS-backed verifier loads keys in the background; give it the fetch timeout to do so. */
async function waitForKeys(verifier: TokenVerifier, timeoutMs: number): Promise<void> {
  await settleWithin(verifier.ready, timeoutMs);
}

const MAX_DATE_SECONDS = 8.64e12;

function present(r: TokenInspection, checked: boolean): Record<string, unknown> {
  const times: Record<string, string> = {};
  for (const claim of ['iat', 'nbf', 'exp'] as const) {
    const v = r.claims?.[claim];
    if (typeof v !== 'number' || !Number.isFinite(v)) continue;
    // A Date holds ±8.64e15 ms; beyond it toISOString throws and nothing would be printed.
    times[claim] = Math.abs(v) <= MAX_DATE_SECONDS ? new Date(v * 1000).toISOString() : 'out of range';
  }
  return {
    header: r.header ?? null,
    claims: r.claims ?? null,
    ...(Object.keys(times).length > 0 ? { times } : {}),
    verified: checked ? r.verified : 'not checked (no --config)',
    ...(r.header === undefined || r.claims === undefined ? { decodeError: 'not a decodable JWT (three base64url JSON segments)' } : {}),
    ...(checked && !r.verified ? { reason: r.reason, code: r.code } : {}),
  };
}
