import type { Logger } from '../shared/logger.ts';

/**
 * Resolves once SIGTERM or SIGINT arrived and `close` has finished (an error while closing is
 * logged, not thrown: the process still exits cleanly). A second signal exits at once.
 */
export function runUntilSignal(logger: Logger, close: () => Promise<unknown>): Promise<void> {
  return new Promise<void>((resolve) => {
    let signalled = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (signalled) {
        logger.warn({ signal }, 'second signal: exiting now');
        process.exit(1);
      }
      signalled = true;
      logger.info({ signal }, 'shutting down');
      close().then(
        () => resolve(),
        (err: unknown) => {
          logger.error({ err }, 'error while closing');
          resolve();
        },
      );
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}
