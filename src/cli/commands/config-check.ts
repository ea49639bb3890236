import { access, constants } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import { configuredIssuers, serviceClashes, type Config } from '../../config/schema.js';
import { readTlsCredentials } from '../../server/listener.js';
import { importPublicKeyFile, readPublicKeyFile } from '../../tokens/keys/static.js';
import { loadConfigForCommand, reportKeyProblems, type KeyProblem } from '../config-issues.js';

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
      const problems = await fileProblems(cfg, dirname(resolve(file)));
      if (problems.length > 0) {
        await reportKeyProblems(file, problems);
        return;
      }
      for (const line of summarize(file, cfg)) console.log(line);
      for (const clash of serviceClashes(cfg)) console.log(`  note     ${clash.key}: ${clash.message}: \`auth start\` serves this file, \`start\` refuses it`);
    });
}

type KeyPath = (string | number)[];

/**
 * The files the config names, loaded as the gateway would load them, so a
 * problem shows now rather than at 3 a.m.: each must be readable, a
 * `publicKey` must import for its algorithms, and the TLS certificate and key
 * must make a TLS context (parsable, and a pair).
 */
async function fileProblems(cfg: Config, baseDir: string): Promise<KeyProblem[]> {
  const problems: KeyProblem[] = [];
  // A file with routes is for `start`, which opens the service beside the gateway; the schema
  // checks the gateway's own listeners.
  if (cfg.routes.length > 0) for (const c of serviceClashes(cfg)) problems.push({ path: c.key.split('.'), message: c.message });
  const unreadable = async (path: KeyPath, file: string): Promise<boolean> => {
    try {
      await access(resolve(baseDir, file), constants.R_OK);
      return false;
    } catch {
      problems.push({ path, message: `cannot read file ${file}` });
      return true;
    }
  };
  const jwt = cfg.security.jwt;
  const issuers = configuredIssuers(cfg);
  for (let i = 0; i < issuers.length; i++) {
    const iss = issuers[i] as (typeof issuers)[number];
    if (!iss.publicKey) continue;
    const path = Array.isArray(jwt) ? ['security', 'jwt', i, 'publicKey'] : ['security', 'jwt', 'publicKey'];
    if (await unreadable(path, iss.publicKey)) continue;
    try {
      importPublicKeyFile(readPublicKeyFile(iss.publicKey, baseDir), iss.algorithms);
    } catch (err) {
      problems.push({ path, message: (err as Error).message });
    }
  }
  const tls = cfg.listen.tls;
  if (tls) {
    const certMissing = await unreadable(['listen', 'tls', 'cert'], tls.cert);
    const keyMissing = await unreadable(['listen', 'tls', 'key'], tls.key);
    if (!certMissing && !keyMissing) {
      try {
        // As start and a reload read them.
        readTlsCredentials(tls, baseDir);
      } catch (err) {
        problems.push({ path: ['listen', 'tls', 'cert'], message: (err as Error).message });
      }
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
    const keys = iss.jwksUri ? `jwks ${shownUrl(iss.jwksUri)}` : iss.publicKey ? `key ${iss.publicKey}` : 'secret';
    lines.push(`  issuer   ${iss.issuer} (${iss.algorithms.join(', ')}; ${keys})`);
  }
  const introspection = cfg.security.introspection;
  if (introspection) lines.push(`  introspection ${introspection.endpoint ? shownUrl(introspection.endpoint) : `discovered from ${introspection.issuer}`}`);
  if (cfg.sessions) lines.push(`  sessions ${cfg.sessions.mode} at ${cfg.sessions.publicUrl} (provider ${cfg.sessions.provider.issuer})`);
  if (cfg.auth) lines.push(`  auth     ${cfg.auth.issuer} on http://${cfg.auth.listen.host}:${cfg.auth.listen.port}`);
  for (const route of cfg.routes) {
    const auth = Array.isArray(route.auth) ? route.auth.join('|') : route.auth;
    const scopes = route.scopes.length > 0 ? ` scopes: ${route.scopes.join(' ')}` : '';
    lines.push(`  route    ${route.host ? route.host : ''}${route.path} -> ${route.upstream} (auth: ${auth}${scopes})`);
  }
  return lines;
}

/** A URL as the summary shows it: a query string can hold a key (`?api_key=`), so only its presence is shown. */
function shownUrl(text: string): string {
  const url = new URL(text);
  return `${url.origin}${url.pathname}${url.search ? '?…' : ''}`;
}
