import type { Worker } from 'bullmq';

/**
 * Resolves once `worker` has completed `count` jobs (counted from now), rejecting after
 * `timeoutMs` or at the first failed job (a benchmark measures successful runs only).
 */
export function waitForCompleted(worker: Worker, count: number, timeoutMs: number): Promise<void> {
  return waitForCompletedAll([worker], count, timeoutMs);
}

/** As {@link waitForCompleted}, summing over several workers. */
export function waitForCompletedAll(
  workers: Worker[],
  count: number,
  timeoutMs: number,
): Promise<void> {
  return new Promise((resolve, reject) => {
    let done = 0;
    const onCompleted = () => {
      done += 1;
      if (done >= count) finish();
    };
    const onFailed = (_job: unknown, err: Error) => finish(err);
    const timer = setTimeout(
      () => finish(new Error(`only ${done} of ${count} jobs completed in ${timeoutMs} ms`)),
      timeoutMs,
    );
    const finish = (err?: Error) => {
      clearTimeout(timer);
      for (const w of workers) {
        w.off('completed', onCompleted);
        w.off('failed', onFailed);
      }
      if (err) reject(err);
      else resolve();
    };
    for (const w of workers) {
      w.on('completed', onCompleted);
      w.on('failed', onFailed);
    }
  });
}

/** Polls `check` every `intervalMs` until it returns true, rejecting after `timeoutMs`. */
export async function pollUntil(
  check: () => Promise<boolean>,
  timeoutMs: number,
  intervalMs = 100,
  what = 'condition',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} not reached in ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
