import { once } from 'node:events';

import { type Logger, pino } from 'pino';

import { logDestination } from '../../src/shared/logger.ts';

/**
 * The log of a benchmark's contract side (a bare worker doing only what askq's contracts
 * require): pino at info to /dev/null through the destination askq's logger writes stdout
 * through, as askq's bench worker logs, and how to close that destination once the side is done.
 */
export function contractLog(): { log: Logger; close(): Promise<void> } {
  const destination = logDestination('/dev/null');
  return {
    log: pino({ level: 'info', base: { service: 'bench-contract' } }, destination),
    async close() {
      const closed = once(destination, 'close');
      destination.end();
      await closed;
    },
  };
}
