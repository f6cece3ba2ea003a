import { ConfigError } from '../shared/config.ts';
import {
  AskqError,
  isRedisConnectionError,
  QueueFullError,
  RedisUnavailableError,
  ValidationError,
} from '../shared/errors.ts';

/**
 * The CLI's exit codes, so CI can tell a failed gate from a broken pipeline:
 * 0 success (a finished eval run, whatever its cases scored, unless a gate was given);
 * 1 a question that failed (`askq ask`) or a gate (`--fail-under`, `--fail-on-regression`);
 * 2 bad input (configuration, flags, files); 3 infrastructure (Redis unreachable, providers
 * down past the deadline, the queue full: Redis past its high-water mark); 130 interrupted by
 * Ctrl-C (`eval run`, as shells report SIGINT).
 */
export const EXIT = {
  ok: 0,
  failed: 1,
  invalid: 2,
  infrastructure: 3,
  interrupted: 130,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** A failure that is the infrastructure's, not the input's (exit code 3). */
export class InfrastructureError extends AskqError {
  override name = 'InfrastructureError';
}

/** The exit code an error thrown out of a command stands for; undefined: an unexpected one. */
export function exitCodeOf(err: unknown): ExitCode | undefined {
  if (err instanceof ValidationError || err instanceof ConfigError) return EXIT.invalid;
  if (
    err instanceof RedisUnavailableError ||
    err instanceof InfrastructureError ||
    err instanceof QueueFullError
  )
    return EXIT.infrastructure;
  if (isRedisConnectionError(err)) return EXIT.infrastructure;
  // `ask --wait` ran out of time: nothing answered it (no worker, or one stuck on its providers).
  if (err instanceof AskqError && err.name === 'WaitTimeoutError') return EXIT.infrastructure;
  if (err instanceof AskqError) return EXIT.failed;
  return undefined;
}
