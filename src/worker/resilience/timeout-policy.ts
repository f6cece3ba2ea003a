import { CancelledError, TransientError } from '../../shared/errors.ts';
import type { Policy } from './policy.ts';

/**
 * Gives every call its own timeout, response body included, joined with the caller's signal
 * (the job's). A timeout rejects with {@link TransientError}; the caller's abort with
 * {@link CancelledError}, which no breaker counts. Either settles the call at once, even when
 * the provider ignores its signal. Per call, not breaker-wide: opossum's own timeout would
 * abort every call in flight when one is slow.
 */
export function timeoutPolicy(dependency: string, timeoutMs: number): Policy {
  const deadlines = new Deadlines();
  return {
    execute<T>(fn: (signal: AbortSignal) => Promise<T>, outer?: AbortSignal): Promise<T> {
      const cancelled = (cause: unknown) =>
        new CancelledError(`${dependency} call cancelled`, { cause });
      // An already-aborted signal: never start the call.
      if (outer?.aborted) return Promise.reject(cancelled(outer.reason));
      const controller = new AbortController();
      return new Promise<T>((resolve, reject) => {
        let done = false;
        const finish = () => {
          done = true;
          deadlines.remove(call);
          if (outer) callsOf(outer).delete(onOuterAbort);
        };
        const onOuterAbort = () => {
          if (done) return;
          finish();
          controller.abort(outer?.reason);
          reject(cancelled(outer?.reason));
        };
        const call: PendingCall = {
          deadline: performance.now() + timeoutMs,
          expire: () => {
            if (done) return;
            finish();
            const reason = new DOMException('per-call timeout', 'TimeoutError');
            controller.abort(reason);
            reject(
              new TransientError(`${dependency} call timed out after ${timeoutMs} ms`, {
                cause: reason,
              }),
            );
          },
        };
        deadlines.add(call);
        if (outer) callsOf(outer).add(onOuterAbort);
        const settled = (err: unknown) => {
          if (done) return; // a timeout or the caller's abort already settled it
          finish();
          reject(outer?.aborted ? cancelled(err) : err);
        };
        try {
          fn(controller.signal).then((value) => {
            if (done) return;
            finish();
            resolve(value);
          }, settled);
        } catch (err) {
          settled(err);
        }
      });
    },
  };
}

/** Per caller's signal (a job's), what its calls in flight do when it aborts. */
const inFlight = new WeakMap<AbortSignal, Set<() => void>>();

/**
 * The calls in flight under `signal`. One abort listener per signal, added at its first call,
 * serves every call a job makes: a call costs a set entry instead of adding and removing a
 * listener of its own.
 */
function callsOf(signal: AbortSignal): Set<() => void> {
  let calls = inFlight.get(signal);
  if (!calls) {
    const mine = new Set<() => void>();
    signal.addEventListener(
      'abort',
      () => {
        for (const onAbort of mine) onAbort();
      },
      { once: true },
    );
    inFlight.set(signal, mine);
    calls = mine;
  }
  return calls;
}

/** One call in flight, in its policy's {@link Deadlines}. */
interface PendingCall {
  /** On the monotonic clock (`performance.now()`): a step of the wall clock moves no deadline. */
  deadline: number;
  expire(): void;
  prev?: PendingCall | undefined;
  next?: PendingCall | undefined;
}

/**
 * The calls in flight of one policy, oldest first. All share one timeout, so deadlines come in
 * the order calls start and one timer, armed for the oldest call, serves them all: a call costs
 * a link in a list instead of a timer of its own.
 */
class Deadlines {
  #head: PendingCall | undefined;
  #tail: PendingCall | undefined;
  #timer: NodeJS.Timeout | undefined;

  add(call: PendingCall): void {
    const wasEmpty = !this.#head;
    call.prev = this.#tail;
    if (this.#tail) this.#tail.next = call;
    else this.#head = call;
    this.#tail = call;
    // A timer left armed for an earlier call fires no later than this call's deadline (they
    // come in order) and then re-arms for it. Armed for the oldest call in flight, which is
    // not this one when a call starts while others expire.
    if (!this.#timer) this.#arm(this.#head!.deadline);
    else if (wasEmpty) this.#timer.ref();
  }

  remove(call: PendingCall): void {
    if (call.prev) call.prev.next = call.next;
    else if (this.#head === call) this.#head = call.next;
    else return; // not in the list (already expired)
    if (call.next) call.next.prev = call.prev;
    else this.#tail = call.prev;
    call.prev = call.next = undefined;
    // Nothing left to time: the timer stays armed (calls that answer at once would otherwise
    // set and clear one each) but no longer holds the process open.
    if (!this.#head) this.#timer?.unref();
  }

  #arm(deadline: number): void {
    this.#timer = setTimeout(this.#fire, Math.max(0, deadline - performance.now()));
  }

  /**
   * Expires every call whose deadline has passed and re-arms for the next. libuv schedules
   * timers from its cached loop time, which lags the clock in a busy tick: a timer can fire a
   * few ms early, and then only re-arms, so no call is given up before its timeout.
   */
  readonly #fire = (): void => {
    this.#timer = undefined;
    const now = performance.now();
    while (this.#head && this.#head.deadline <= now) this.#head.expire();
    if (this.#head && !this.#timer) this.#arm(this.#head.deadline);
  };
}
