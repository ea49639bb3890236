import { dirname, resolve } from 'node:path';
import type { Config } from '../../config/schema.js';
import { resolveAuthPaths, type AuthServiceConfig } from '../../auth-service/index.js';
import { loadConfigForCommand } from '../config-issues.js';

/**
 * Loads FILE and returns its `auth:` section with paths resolved next to the
 * file, or prints why not and sets exit code 1.
 */
export async function loadAuthSection(file: string): Promise<{ config: Config; auth: AuthServiceConfig; baseDir: string } | undefined> {
  const config = await loadConfigForCommand(file);
  if (!config) return undefined;
  if (!config.auth) {
    console.error(`${file}: no auth section: the authorization service is not configured`);
    process.exitCode = 1;
    return undefined;
  }
  const baseDir = dirname(resolve(file));
  return { config, auth: resolveAuthPaths(config.auth, baseDir), baseDir };
}
