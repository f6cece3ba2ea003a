import type { Logger } from '../shared/logger.ts';
import type { Redis } from '../shared/redis.ts';

/** Error codes a socket gives when Redis cannot be reached (not a command that failed). */
const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
]);

/** True for an error that says Redis is out of reach rather than that a command failed. */
export function isUnreachable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as NodeJS.ErrnoException).code;
  if (code !== undefined && UNREACHABLE_CODES.has(code)) return true;
  return /^Connection is closed\.?$/.test(err.message);
}

interface ErrorSource {
  readonly name: string;
  on(event: 'error', listener: (err: Error) => void): unknown;
}

/**
 * Logs the workers' errors. While Redis is out of reach, BullMQ reports every reconnect attempt
 * of every connection (tens a second); an operator needs one line when it goes and one when it
 * is back, with how many reports were folded in between. Any other error is logged as it comes.
 */
export function logWorkerErrors(
  sources: readonly ErrorSource[],
  connection: Pick<Redis, 'on' | 'off' | 'status'>,
  logger: Logger,
): () => void {
  let outage: { since: number; folded: number } | undefined;
  const onError = (queue: string) => (err: Error) => {
    if (!isUnreachable(err)) {
      logger.error({ err, queue }, 'worker error');
      return;
    }
    if (outage) {
      outage.folded += 1;
      return;
    }
    if (connection.status === 'ready') {
      // One connection dropped (a blocking one, say) while the shared one still answers: no
      // outage begins, since only the shared connection's `ready` would end it.
      logger.warn(
        { queue, code: (err as NodeJS.ErrnoException).code },
        'a Redis connection dropped',
      );
      return;
    }
    outage = { since: Date.now(), folded: 0 };
    const code = (err as NodeJS.ErrnoException).code;
    logger.warn(
      { queue, code, reason: err.message },
      'Redis unreachable; the workers keep reconnecting and take jobs again once it is back',
    );
  };
  const onReady = () => {
    if (!outage) return;
    logger.info(
      { downMs: Date.now() - outage.since, reconnectErrors: outage.folded },
      'Redis reachable again',
    );
    outage = undefined;
  };
  for (const source of sources) source.on('error', onError(source.name));
  connection.on('ready', onReady);
  return () => connection.off('ready', onReady);
}
