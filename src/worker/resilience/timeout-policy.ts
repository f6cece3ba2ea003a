import { CancelledError, TransientError } from '../../shared/errors.ts';
import type { Policy } from './policy.ts';

/**
 * Gives every call its own timeout, response body included, joined with the caller's signal
 * (the job's). A timeout rejects with {@link TransientError}; the caller's abort with
 * {@link CancelledError}, which no breaker counts. Per call, not breaker-wide: opossum's own
 * timeout would abort every call in flight when one is slow.
 */
export function timeoutPolicy(dependency: string, timeoutMs: number): Policy {
  return {
    async execute(fn, outer) {
      // One controller and one timer per call, aborted by the timeout or the outer signal:
      // cheaper on the hot path than AbortSignal.timeout + AbortSignal.any, same behaviour.
      const controller = new AbortController();
      const signal = controller.signal;
      let timedOut = false;
      // libuv schedules timers from its cached loop time, which lags the clock in a busy tick:
      // a timer can fire a few ms early. Re-armed for what is left, a call is never given up
      // before its timeout.
      const deadline = Date.now() + timeoutMs;
      const fire = () => {
        const left = deadline - Date.now();
        if (left > 0) {
          timer = setTimeout(fire, left);
          return;
        }
        timedOut = true;
        controller.abort(new DOMException('per-call timeout', 'TimeoutError'));
      };
      let timer = setTimeout(fire, timeoutMs);
      const onOuterAbort = () => controller.abort(outer?.reason);
      if (outer?.aborted) onOuterAbort();
      else outer?.addEventListener('abort', onOuterAbort, { once: true });
      try {
        // An already-aborted signal: never start the call (its rejection would go unhandled).
        signal.throwIfAborted();
        return await settleOnAbort(fn(signal), signal);
      } catch (err) {
        if (outer?.aborted) {
          throw new CancelledError(`${dependency} call cancelled`, { cause: err });
        }
        if (timedOut) {
          throw new TransientError(`${dependency} call timed out after ${timeoutMs} ms`, {
            cause: err,
          });
        }
        throw err;
      } finally {
        clearTimeout(timer);
        outer?.removeEventListener('abort', onOuterAbort);
      }
    },
  };
}

/** Settles as soon as `signal` aborts, even when a provider ignores the signal. */
export function settleOnAbort<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  // The provider's promise may still reject after the abort won the race: handled, not a crash.
  promise.catch(() => {});
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}
