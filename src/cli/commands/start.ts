import { dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import { loadConfigFile } from '../../config/load.js';
import type { Config } from '../../config/schema.js';
import { createLogger } from '../../log.js';
import { describeConfigFailure, loadConfigForCommand } from '../config-issues.js';
import { handleSignals, holdHangups } from '../lifecycle.js';

/**
 * `gatehouse start --config FILE`: runs the gateway (and, when FILE has an `auth:` section, the
 * authorization service in the same process) until SIGTERM/SIGINT; SIGHUP reloads FILE.
 */
export function registerStartCommand(program: Command): void {
  program
    .command('start')
    .description('start the gateway (SIGTERM/SIGINT: drain and stop; SIGHUP: reload the config file)')
    .requiredOption('-c, --config <file>', 'YAML configuration file')
    .action(async (opts: { config: string }) => {
      const file = opts.config;
      const hangups = holdHangups();
      const cfg = await loadConfigForCommand(file);
      if (!cfg) return;
      // Loaded here, not at the top: `--help` and the other commands need none of the gateway.
      const { startGateway } = await import('../../gateway.js');
      const logger = createLogger(cfg.logging.level);
      // Relative paths in the file (keys, certificates) mean "next to this file".
      const baseDir = dirname(resolve(file));
      // The authorization service first: the gateway may fetch its metadata and JWKS as it starts.
      const auth = cfg.auth
        ? await (await import('../../auth-service/index.js')).startAuthService(cfg.auth, { logger, baseDir })
        : undefined;
      let gateway: Awaited<ReturnType<typeof startGateway>>;
      try {
        gateway = await startGateway(cfg, { logger, baseDir });
      } catch (err) {
        await auth?.close();
        throw err;
      }
      /** The configuration serving now: the last one a reload applied. */
      let active = cfg;
      // Handlers before the announcement: whoever waits for it may signal at once.
      handleSignals(
        {
          close: async () => {
            // Both stop accepting at once and drain alike: a request at the service (a refresh whose
            // rotated token a cut answer would lose, so that the client replays the old one and trips
            // reuse detection) gets the gateway's grace. A gateway request that needs the service only
            // after this (an introspection) finds it closed, as any new client does.
            const { drainTimeoutMs } = active.shutdown;
            await Promise.all([gateway.close(), auth?.close({ drainTimeoutMs })]);
          },
          reload: async () => {
            // The service's settings need a restart; its signing keys are re-read (`gatehouse keys rotate`).
            await auth?.reloadKeys().catch((err: unknown) => logger.warn({ err }, 'cannot re-read the signing keys'));
            let next: Config;
            try {
              next = await loadConfigFile(file);
            } catch (err) {
              logger.error({ problems: describeConfigFailure(file, err) }, 'configuration rejected; the running configuration keeps serving');
              throw err;
            }
            try {
              // The service runs on the settings it started with; applying the rest while they are ignored
              // would report a reload that did not happen (a rotated client secret still accepted).
              assertSameAuthSection(cfg, next);
              await gateway.reload(next);
              active = next;
            } catch (err) {
              logger.error({ err }, 'reload failed; the running configuration keeps serving');
              throw err;
            }
          },
        },
        logger,
        hangups,
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

/** The `auth:` section (the authorization service's settings) needs a restart: a reload changing it is refused as a whole. */
function assertSameAuthSection(running: Config, next: Config): void {
  if (JSON.stringify(running.auth) !== JSON.stringify(next.auth)) {
    throw new Error('reload cannot change auth (the authorization service); restart the gateway instead');
  }
}
