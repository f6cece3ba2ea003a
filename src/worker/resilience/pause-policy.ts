import { RateLimitedError } from '../../shared/errors.ts';
import type { Policy } from './policy.ts';

/**
 * Honours a provider's `retry-after` in this process: once a call is rate limited with a
 * hint ({@link PausePolicy.record}), no call to the dependency leaves before it has passed
 * (each is refused with {@link RateLimitedError} and the time left). Pauses only lengthen.
 * The gate sits outermost; the recording is done where the error is classified, the first
 * moment the 429 is known, so no other call slips through meanwhile.
 */
export class PausePolicy implements Policy {
  readonly #dependency: string;
  #pausedUntil = 0;

  constructor(dependency: string) {
    this.#dependency = dependency;
  }

  // Not async: the inner policy's promise is handed on as it is, one promise fewer per call.
  execute<T>(fn: (signal: AbortSignal) => Promise<T>, signal?: AbortSignal): Promise<T> {
    const wait = this.pausedForMs();
    if (wait > 0) {
      return Promise.reject(
        new RateLimitedError(`${this.#dependency} is rate limited for another ${wait} ms`, {
          retryAfterMs: wait,
        }),
      );
    }
    return fn(signal ?? new AbortController().signal);
  }

  /** How long calls are still refused, in ms; 0 when they may leave. */
  pausedForMs(): number {
    return Math.max(0, this.#pausedUntil - Date.now());
  }

  /** Starts (or lengthens) the pause a rate limit with a `retry-after` asks for. */
  record(err: unknown): void {
    if (err instanceof RateLimitedError && err.retryAfterMs !== undefined) {
      this.#pausedUntil = Math.max(this.#pausedUntil, Date.now() + err.retryAfterMs);
    }
  }
}
