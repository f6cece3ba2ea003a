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
      // An already-aborted signal: never start the call.
      if (outer?.aborted) return Promise.reject(cancelledCall(dependency, outer.reason));
      return new Promise<T>((resolve, reject) => {
        const call = new TimedCall<T>(dependency, timeoutMs, deadlines, outer, resolve, reject);
        try {
          fn(call.controller.signal).then(
            (value) => call.succeed(value),
            (err: unknown) => call.fail(err),
          );
        } catch (err) {
          call.fail(err);
        }
      });
    },
  };
}

function cancelledCall(dependency: string, cause: unknown): CancelledError {
  return new CancelledError(`${dependency} call cancelled`, { cause });
}

/**
 * One call under its timeout: settled by the first of its own outcome, its deadline and the
 * caller's abort. One object per call holds what each of them needs (no closure per outcome).
 */
class TimedCall<T> implements PendingCall, Cancellable {
  readonly controller = new AbortController();
  readonly deadline: number;
  prev?: PendingCall | undefined;
  next?: PendingCall | undefined;
  #done = false;
  readonly #dependency: string;
  readonly #timeoutMs: number;
  readonly #deadlines: Deadlines;
  readonly #outer: AbortSignal | undefined;
  /** The calls in flight under the caller's signal, this one among them. */
  readonly #siblings: Set<Cancellable> | undefined;
  readonly #resolve: (value: T) => void;
  readonly #reject: (err: unknown) => void;

  constructor(
    dependency: string,
    timeoutMs: number,
    deadlines: Deadlines,
    outer: AbortSignal | undefined,
    resolve: (value: T) => void,
    reject: (err: unknown) => void,
  ) {
    this.#dependency = dependency;
    this.#timeoutMs = timeoutMs;
    this.#deadlines = deadlines;
    this.#outer = outer;
    this.#resolve = resolve;
    this.#reject = reject;
    this.deadline = performance.now() + timeoutMs;
    deadlines.add(this);
    this.#siblings = outer && callsOf(outer);
    this.#siblings?.add(this);
  }

  succeed(value: T): void {
    if (this.#finish()) this.#resolve(value);
  }

  /** The call's own failure; a timeout or the caller's abort may have settled it already. */
  fail(err: unknown): void {
    if (this.#finish()) {
      this.#reject(this.#outer?.aborted ? cancelledCall(this.#dependency, err) : err);
    }
  }

  expire(): void {
    if (!this.#finish()) return;
    const reason = new DOMException('per-call timeout', 'TimeoutError');
    this.controller.abort(reason);
    this.#reject(
      new TransientError(`${this.#dependency} call timed out after ${this.#timeoutMs} ms`, {
        cause: reason,
      }),
    );
  }

  /** The caller's signal aborted. */
  cancel(): void {
    if (!this.#finish()) return;
    const reason: unknown = this.#outer?.reason;
    this.controller.abort(reason);
    this.#reject(cancelledCall(this.#dependency, reason));
  }

  /** Marks the call settled; false when it already was. */
  #finish(): boolean {
    if (this.#done) return false;
    this.#done = true;
    this.#deadlines.remove(this);
    this.#siblings?.delete(this);
    return true;
  }
}

/** Per caller's signal (a job's), what its calls in flight do when it aborts. */
const inFlight = new WeakMap<AbortSignal, Set<Cancellable>>();

/**
 * The calls in flight under `signal`. One abort listener per signal, added at its first call,
 * serves every call a job makes: a call costs a set entry instead of adding and removing a
 * listener of its own.
 */
function callsOf(signal: AbortSignal): Set<Cancellable> {
  let calls = inFlight.get(signal);
  if (!calls) {
    const mine = new Set<Cancellable>();
    signal.addEventListener(
      'abort',
      () => {
        for (const call of mine) call.cancel();
      },
      { once: true },
    );
    inFlight.set(signal, mine);
    calls = mine;
  }
  return calls;
}

/** A call in flight under a caller's signal: what to do when that signal aborts. */
interface Cancellable {
  cancel(): void;
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
