import { dirname, resolve } from 'node:path';
import { loadConfigFile } from '../../config/load.js';
import type { Config } from '../../config/schema.js';
import { resolveAuthPaths, type AuthServiceConfig } from '../../auth-service/index.js';
import { describeConfigFailure } from '../config-issues.js';

/**
 * Loads FILE and returns its `auth:` section with paths resolved next to the
 * file, or prints why not and sets exit code 1.
 */
export async function loadAuthSection(file: string): Promise<{ config: Config; auth: AuthServiceConfig; baseDir: string } | undefined> {
  let config: Config;
  try {
    config = await loadConfigFile(file);
  } catch (err) {
    for (const line of describeConfigFailure(file, err)) console.error(line);
    process.exitCode = 1;
    return undefined;
  }
  if (!config.auth) {
    console.error(`${file}: no auth section: the authorization service is not configured`);
    process.exitCode = 1;
    return undefined;
  }
  const baseDir = dirname(resolve(file));
  return { config, auth: resolveAuthPaths(config.auth, baseDir), baseDir };
}
