import type { Command } from 'commander';
import { startAuthService } from '../../auth-service/index.js';
import { createLogger } from '../../log.js';
import { handleSignals, holdHangups } from '../lifecycle.js';
import { loadAuthSection } from './auth-config.js';

/** `gatehouse auth start --config FILE`: runs only the authorization service of FILE's `auth:` section. */
export function registerAuthCommand(program: Command): void {
  const auth = program.command('auth').description('the authorization service');
  auth
    .command('start')
    .description('start the authorization service alone (SIGTERM/SIGINT: drain and stop; SIGHUP: re-read the signing keys)')
    .requiredOption('-c, --config <file>', 'YAML configuration file with an auth section')
    .action(async (opts: { config: string }) => {
      const hangups = holdHangups();
      const loaded = await loadAuthSection(opts.config);
      if (!loaded) return;
      const logger = createLogger(loaded.config.logging.level);
      const service = await startAuthService(loaded.auth, { logger });
      logger.info({ url: service.url, issuer: service.issuer }, `authorization service ${service.issuer} listening on ${service.url}`);
      const { drainTimeoutMs } = loaded.config.shutdown;
      handleSignals({ close: () => service.close({ drainTimeoutMs }), reload: () => service.reloadKeys() }, logger, hangups);
    });
}
