import type { Logger } from '../log.js';

export interface Lifecycle {
  /** Stops accepting, drains, releases everything. */
  close(): Promise<void>;
  /** Re-reads the configuration and applies it; rejects (old config kept) when it is bad. */
  reload?(): Promise<void>;
}

/**
 * SIGTERM/SIGINT: close once, then exit 0 (exit 1 if closing failed); a second
 * signal while draining exits at once. SIGHUP: reload, one at a time; a reload
 * that fails is logged and the running configuration keeps serving.
 */
export function handleSignals(target: Lifecycle, logger: Logger): void {
  let closing = false;
  const stop = (signal: NodeJS.Signals) => {
    if (closing) {
      logger.warn({ signal }, 'second signal while draining; exiting now');
      process.exit(1);
    }
    closing = true;
    logger.info({ signal }, 'shutting down: no new connections, draining in-flight requests');
    target.close().then(
      () => {
        logger.info('stopped');
        logger.flush?.();
        process.exit(0);
      },
      (err: unknown) => {
        logger.error({ err }, 'error while shutting down');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);

  const reload = target.reload?.bind(target);
  if (!reload) return;
  let running: Promise<void> | undefined;
  let again = false;
  const runReload = async (): Promise<void> => {
    do {
      again = false;
      try {
        await reload();
      } catch (err) {
        // Already reported by the reload function; keep the process alive.
        logger.debug({ err }, 'reload rejected');
      }
    } while (again && !closing);
  };
  process.on('SIGHUP', () => {
    if (closing) return;
    // Signals that arrive during a reload collapse into one more pass, so the last
    // version of the file always wins and reloads never overlap.
    if (running) {
      again = true;
      return;
    }
    logger.info('SIGHUP: reloading configuration');
    running = runReload().finally(() => {
      running = undefined;
    });
  });
}
