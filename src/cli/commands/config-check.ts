import { access, constants, readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { createSecureContext } from 'node:tls';
import type { Command } from 'commander';
import { configuredIssuers, type Config } from '../../config/schema.js';
import { importPublicKeyFile, readPublicKeyFile } from '../../tokens/keys/static.js';
import { formatConfigIssue, loadConfigForCommand, locateYamlKey } from '../config-issues.js';

/** `gatehouse config check FILE`: validates like `start` does, without starting anything. */
export function registerConfigCommand(program: Command): void {
  const config = program.command('config').description('work with configuration files');
  config
    .command('check')
    .description('validate a configuration file; print every problem as FILE:LINE:COL key.path: message')
    .argument('<file>', 'YAML configuration file')
    .action(async (file: string) => {
      const cfg = await loadConfigForCommand(file);
      if (!cfg) return;
      const baseDir = dirname(resolve(file));
      const missing = await missingFiles(cfg, baseDir);
      const unusable = missing.length > 0 ? [] : await unusableFiles(cfg, baseDir);
      const problems = [...missing.map((m) => ({ path: m.path, message: `cannot read file ${m.file}` })), ...unusable];
      if (problems.length > 0) {
        const text = await readFile(file, 'utf8');
        for (const m of problems) {
          const at = locateYamlKey(text, m.path);
          console.error(formatConfigIssue(file, { path: m.path.join('.'), message: m.message, ...at }));
        }
        process.exitCode = 1;
        return;
      }
      for (const line of summarize(file, cfg)) console.log(line);
    });
}

/** Files the config names must exist when the gateway starts; say so now rather than at 3 a.m. */
type KeyPath = (string | number)[];

async function missingFiles(cfg: Config, baseDir: string): Promise<{ path: KeyPath; file: string }[]> {
  const refs: { path: KeyPath; file: string }[] = [];
  const jwt = cfg.security.jwt;
  configuredIssuers(cfg).forEach((iss, i) => {
    if (iss.publicKey) refs.push({ path: Array.isArray(jwt) ? ['security', 'jwt', i, 'publicKey'] : ['security', 'jwt', 'publicKey'], file: iss.publicKey });
  });
  if (cfg.listen.tls) {
    refs.push({ path: ['listen', 'tls', 'cert'], file: cfg.listen.tls.cert }, { path: ['listen', 'tls', 'key'], file: cfg.listen.tls.key });
  }
  const results = await Promise.all(
    refs.map(async (ref) => {
      try {
        await access(resolve(baseDir, ref.file), constants.R_OK);
        return undefined;
      } catch {
        return ref;
      }
    }),
  );
  return results.filter((r) => r !== undefined);
}

/**
 * Files that exist but would not load when the gateway starts: a `publicKey`
 * that does not import for its algorithms, a TLS certificate and key that do
 * not make a TLS context (unparsable, or not a pair).
 */
async function unusableFiles(cfg: Config, baseDir: string): Promise<{ path: KeyPath; message: string }[]> {
  const problems: { path: KeyPath; message: string }[] = [];
  const jwt = cfg.security.jwt;
  const issuers = configuredIssuers(cfg);
  for (let i = 0; i < issuers.length; i++) {
    const iss = issuers[i] as (typeof issuers)[number];
    if (!iss.publicKey) continue;
    try {
      await importPublicKeyFile(readPublicKeyFile(iss.publicKey, baseDir), iss.algorithms).keys;
    } catch (err) {
      problems.push({ path: Array.isArray(jwt) ? ['security', 'jwt', i, 'publicKey'] : ['security', 'jwt', 'publicKey'], message: (err as Error).message });
    }
  }
  const tls = cfg.listen.tls;
  if (tls) {
    try {
      createSecureContext({ cert: await readFile(resolve(baseDir, tls.cert)), key: await readFile(resolve(baseDir, tls.key)) });
    } catch (err) {
      problems.push({ path: ['listen', 'tls', 'cert'], message: `certificate and key do not load: ${(err as Error).message}` });
    }
  }
  return problems;
}

function summarize(file: string, cfg: Config): string[] {
  const issuers = configuredIssuers(cfg);
  const lines = [
    `${file}: OK`,
    `  listen   ${cfg.listen.tls ? 'https' : 'http'}://${cfg.listen.host}:${cfg.listen.port}`,
    `  admin    ${cfg.admin.enabled ? `http://${cfg.admin.host}:${cfg.admin.port}` : 'disabled'}`,
  ];
  for (const iss of issuers) {
    const keys = iss.jwksUri ? `jwks ${iss.jwksUri}` : iss.publicKey ? `key ${iss.publicKey}` : 'secret';
    lines.push(`  issuer   ${iss.issuer} (${iss.algorithms.join(', ')}; ${keys})`);
  }
  const introspection = cfg.security.introspection;
  if (introspection) lines.push(`  introspection ${introspection.endpoint ?? `discovered from ${introspection.issuer}`}`);
  if (cfg.sessions) lines.push(`  sessions ${cfg.sessions.mode} at ${cfg.sessions.publicUrl} (provider ${cfg.sessions.provider.issuer})`);
  if (cfg.auth) lines.push(`  auth     ${cfg.auth.issuer} on http://${cfg.auth.listen.host}:${cfg.auth.listen.port}`);
  for (const route of cfg.routes) {
    const auth = Array.isArray(route.auth) ? route.auth.join('|') : route.auth;
    const scopes = route.scopes.length > 0 ? ` scopes: ${route.scopes.join(' ')}` : '';
    lines.push(`  route    ${route.host ? route.host : ''}${route.path} -> ${route.upstream} (auth: ${auth}${scopes})`);
  }
  return lines;
}
