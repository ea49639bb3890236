import type { Logger } from '../log.js';

export interface Lifecycle {
  /** Stops accepting, drains, releases everything. */
  close(): Promise<void>;
  /** Re-reads the configuration and applies it; rejects (old config kept) when it is bad. */
  reload?(): Promise<void>;
}

/** Hangups received before {@link handleSignals} took over; see {@link holdHangups}. */
export interface HeldHangups {
  /** Removes the holding handler; true when a SIGHUP arrived meanwhile. */
  release(): boolean;
}

/**
 * Keeps a SIGHUP from ending the process while it starts: until a handler is
 * installed, Node applies the signal's default action, which terminates.
 * Starting can take seconds (the authorization service's keys, a Redis
 * connection, binding), and a `systemctl reload` or config tool may signal at
 * any time. Call it first; {@link handleSignals} then reloads once for them.
 */
export function holdHangups(): HeldHangups {
  let received = false;
  const hold = (): void => {
    received = true;
  };
  process.on('SIGHUP', hold);
  return {
    release() {
      process.off('SIGHUP', hold);
      return received;
    },
  };
}

/**
 * SIGTERM/SIGINT: close once, then exit 0 (exit 1 if closing failed); a second
 * signal while draining exits at once. SIGHUP: reload, one at a time; a reload
 * that fails is logged and the running configuration keeps serving. With
 * `held`, hangups received while starting are released here and answered by
 * one reload (or ignored, for a target that cannot reload).
 */
export function handleSignals(target: Lifecycle, logger: Logger, held?: HeldHangups): void {
  let closing = false;
  const stop = (signal: NodeJS.Signals) => {
    if (closing) {
      logger.warn({ signal }, 'second signal while draining; exiting now');
      process.exit(1);
    }
    closing = true;
    logger.info({ signal }, 'shutting down');
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
  if (!reload) {
    // Nothing to reload: a hangup is ignored rather than ending the process.
    process.on('SIGHUP', () => logger.info('SIGHUP: nothing to reload'));
    held?.release();
    return;
  }
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
  const onHangup = (): void => {
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
  };
  process.on('SIGHUP', onHangup);
  if (held?.release()) onHangup();
}
