import { dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import { loadConfigFile } from '../../config/load.js';
import type { Config } from '../../config/schema.js';
import { createLogger } from '../../log.js';
import { describeConfigFailure } from '../config-issues.js';
import { handleSignals } from '../lifecycle.js';

/** `gatehouse start --config FILE`: runs the gateway until SIGTERM/SIGINT; SIGHUP reloads FILE. */
export function registerStartCommand(program: Command): void {
  program
    .command('start')
    .description('start the gateway (SIGTERM/SIGINT: drain and stop; SIGHUP: reload the config file)')
    .requiredOption('-c, --config <file>', 'YAML configuration file')
    .action(async (opts: { config: string }) => {
      const file = opts.config;
      let cfg: Config;
      try {
        cfg = await loadConfigFile(file);
      } catch (err) {
        for (const line of describeConfigFailure(file, err)) console.error(line);
        process.exitCode = 1;
        return;
      }
      // Loaded here, not at the top: `--help` and the other commands need none of the gateway.
      const { startGateway } = await import('../../gateway.js');
      const logger = createLogger(cfg.logging.level);
      // Relative paths in the file (keys, certificates) mean "next to this file".
      const baseDir = dirname(resolve(file));
      const gateway = await startGateway(cfg, { logger, baseDir });
      // Handlers before the announcement: whoever waits for it may signal at once.
      handleSignals(
        {
          close: () => gateway.close(),
          reload: async () => {
            let next: Config;
            try {
              next = await loadConfigFile(file);
            } catch (err) {
              logger.error({ problems: describeConfigFailure(file, err) }, 'configuration rejected; the running configuration keeps serving');
              throw err;
            }
            try {
              await gateway.reload(next);
            } catch (err) {
              logger.error({ err }, 'reload failed; the running configuration keeps serving');
              throw err;
            }
          },
        },
        logger,
      );
      logger.info(
        {
          url: gateway.url,
          adminUrl: gateway.adminUrl,
          config: resolve(file),
          routes: cfg.routes.map((r) => ({ path: r.path, host: r.host, upstream: r.upstream, auth: r.auth, scopes: r.scopes })),
        },
        `serving ${cfg.routes.length} route(s) on ${gateway.url}${gateway.adminUrl ? `, admin on ${gateway.adminUrl}` : ''}`,
      );
      void gateway.ready.then(() => logger.info('ready: every key source has loaded'));
    });
}
