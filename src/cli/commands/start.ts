import { dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import { loadConfigFile } from '../../config/load.js';
import { serviceClashes, type Config } from '../../config/schema.js';
import { createLogger } from '../../log.js';
import { describeConfigFailure, loadConfigForCommand, reportKeyProblems } from '../config-issues.js';
import { handleSignals, holdHangups } from '../lifecycle.js';

/** The embedded authorization service's drain after the gateway's, however long that took. */
const MIN_SERVICE_DRAIN_MS = 1000;

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
      // Both run in this process: a shared port would fail the second bind with a bare EADDRINUSE.
      // Reported as `config check` reports it, at its line.
      const clashes = serviceClashes(cfg);
      if (clashes.length > 0) {
        await reportKeyProblems(file, clashes.map((c) => ({ path: c.key.split('.'), message: c.message })));
        return;
      }
      // Loaded here, not at the top: `--help` and the other commands need none of the gateway.
      const { assertSectionsUnchanged, startGateway } = await import('../../gateway.js');
      const { GatewayMetrics } = await import('../../admin/metrics.js');
      // Held here too: a reload refused before it reaches the gateway (the file, the auth section) is counted here.
      const metrics = new GatewayMetrics();
      const logger = createLogger(cfg.logging.level);
      // Relative paths in the file (keys, certificates) mean "next to this file".
      const baseDir = dirname(resolve(file));
      // The authorization service first: the gateway may fetch its metadata and JWKS as it starts.
      const auth = cfg.auth
        ? await (await import('../../auth-service/index.js')).startAuthService(cfg.auth, { logger, baseDir })
        : undefined;
      let gateway: Awaited<ReturnType<typeof startGateway>>;
      try {
        gateway = await startGateway(cfg, { logger, baseDir, metrics });
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
            // The gateway drains first: its requests may still need the service (an introspection, a
            // login's code exchange, a session refresh), which serves on meanwhile. Then the service
            // drains with what is left of the timeout, at least a second: a token answer cut midway
            // loses a rotated refresh token, and the client's replay of the old one trips reuse detection.
            // The drain timeout counts from the end of the gateway's readiness delay (the service serves on through both).
            const { drainTimeoutMs, readinessDelayMs } = active.shutdown;
            const deadline = Date.now() + readinessDelayMs + drainTimeoutMs;
            await gateway.close();
            await auth?.close({ drainTimeoutMs: Math.max(deadline - Date.now(), Math.min(drainTimeoutMs, MIN_SERVICE_DRAIN_MS)) });
          },
          reload: async () => {
            // The service's settings need a restart; its signing keys are re-read (`gatehouse keys rotate`).
            await auth?.reloadKeys().catch((err: unknown) => logger.warn({ err }, 'cannot re-read the signing keys'));
            let next: Config;
            try {
              next = await loadConfigFile(file);
            } catch (err) {
              metrics.configReloads.inc({ result: 'rejected' });
              logger.error({ problems: describeConfigFailure(file, err) }, 'configuration rejected; the running configuration keeps serving');
              throw err;
            }
            try {
              // The service runs on the settings it started with; applying the rest while they are ignored
              // would report a reload that did not happen (a rotated client secret still accepted).
              try {
                assertSectionsUnchanged(cfg, next, ['auth']);
              } catch (err) {
                metrics.configReloads.inc({ result: 'rejected' });
                throw err;
              }
              // Counts itself, either way.
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
