import { once } from 'node:events';

import { type Logger, pino } from 'pino';

/**
 * The log of a benchmark's contract side (a bare worker doing only what askq's contracts
 * require): pino at info on its own fast destination to /dev/null, as askq's bench worker logs,
 * and how to close that destination once the side is done.
 */
export function contractLog(): { log: Logger; close(): Promise<void> } {
  const destination = pino.destination({ dest: '/dev/null', sync: false });
  return {
    log: pino({ level: 'info', base: { service: 'bench-contract' } }, destination),
    async close() {
      const closed = once(destination, 'close');
      destination.end();
      await closed;
    },
  };
}
