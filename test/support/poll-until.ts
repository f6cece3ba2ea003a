/** When {@link pollUntil} gives up. */
export interface PollLimit {
  /** Rejects when `done` has not held, nor reported progress, for this long. */
  timeoutMs: number;
  /** The rejection; may look things up (best effort) to say what was still missing. */
  timedOut: () => Error | Promise<Error>;
}

/**
 * Resolves once `done()` holds; re-checked whenever a listener is called and at least every
 * 500 ms (events emitted while Redis restarts may never arrive). `done` may call `progressed`
 * to restart the clock: the limit then bounds a stall, not the whole wait.
 */
export function pollUntil(
  listeners: Set<() => void>,
  done: (progressed: () => void) => Promise<boolean>,
  limit: PollLimit,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let checking = false;
    let again = false;
    let finished = false;
    let timer: NodeJS.Timeout | undefined;
    const finish = (err?: Error) => {
      finished = true;
      clearTimeout(timer);
      clearInterval(interval);
      listeners.delete(check);
      if (err) reject(err);
      else resolve();
    };
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        clearInterval(interval);
        listeners.delete(check);
        void Promise.resolve()
          .then(limit.timedOut)
          .then(finish, (err: unknown) =>
            finish(err instanceof Error ? err : new Error(String(err))),
          );
      }, limit.timeoutMs);
    };
    const check = () => {
      if (finished) return;
      if (checking) {
        again = true;
        return;
      }
      checking = true;
      done(arm).then(
        (ok) => {
          checking = false;
          if (ok) finish();
          else if (again) {
            again = false;
            check();
          }
        },
        () => {
          checking = false; // Redis down: the next event or tick checks again
        },
      );
    };
    arm();
    const interval = setInterval(check, 500);
    listeners.add(check);
    check();
  });
}
