import { afterEach, beforeEach, describe, expect, it, type MockInstance, vi } from 'vitest';

import { CancelledError, TransientError } from '../../src/shared/errors.ts';
import { timeoutPolicy } from '../../src/worker/resilience/timeout-policy.ts';

/** A provider call that ignores its signal and settles only when told to. */
function hungCall() {
  let signal: AbortSignal | undefined;
  let resolve!: (value: string) => void;
  const call = (s: AbortSignal) => {
    signal = s;
    return new Promise<string>((r) => (resolve = r));
  };
  return { call, signal: () => signal, resolve: (value: string) => resolve(value) };
}

/** Settles `promise` into what it resolved or rejected with, without an unhandled rejection. */
function outcome<T>(promise: Promise<T>) {
  const seen: { value?: T; error?: unknown; settled: boolean } = { settled: false };
  promise.then(
    (value) => Object.assign(seen, { value, settled: true }),
    (error: unknown) => Object.assign(seen, { error, settled: true }),
  );
  return seen;
}

describe('the per-call timeout (one timer for all of a policy’s calls in flight)', () => {
  let armed: MockInstance<typeof setTimeout>;
  /** Whether the policy's timer (the one armed last) would keep the process running. */
  const holdsProcess = () => (armed.mock.results.at(-1)?.value as NodeJS.Timeout).hasRef();
  beforeEach(() => {
    vi.useFakeTimers();
    armed = vi.spyOn(globalThis, 'setTimeout');
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('keeps each deadline when the wall clock steps: it times calls on the monotonic clock', async () => {
    const policy = timeoutPolicy('chat', 100);
    const a = hungCall();
    const b = hungCall();
    const first = outcome(policy.execute(a.call));
    await vi.advanceTimersByTimeAsync(90);
    const second = outcome(policy.execute(b.call));
    // NTP steps the clock an hour ahead: the later call still has 90 ms to go.
    vi.setSystemTime(Date.now() + 3_600_000);
    await vi.advanceTimersByTimeAsync(10);
    expect(first.error).toBeInstanceOf(TransientError);
    expect(second.settled).toBe(false);
    await vi.advanceTimersByTimeAsync(90);
    expect(second.error).toBeInstanceOf(TransientError);
  });

  it('times each call out at its own deadline, whenever it started', async () => {
    const policy = timeoutPolicy('chat', 100);
    const a = hungCall();
    const b = hungCall();
    const first = outcome(policy.execute(a.call));
    await vi.advanceTimersByTimeAsync(60);
    const second = outcome(policy.execute(b.call));

    await vi.advanceTimersByTimeAsync(40);
    expect(first.error).toBeInstanceOf(TransientError);
    expect((first.error as Error).message).toBe('chat call timed out after 100 ms');
    expect(a.signal()?.aborted).toBe(true);
    expect(second.settled).toBe(false);
    expect(b.signal()?.aborted).toBe(false);

    await vi.advanceTimersByTimeAsync(59);
    expect(second.settled).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(second.error).toBeInstanceOf(TransientError);
    expect(b.signal()?.aborted).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('lets a call that answered in time keep its value; an idle timer holds nothing', async () => {
    const policy = timeoutPolicy('embeddings', 100);
    const a = hungCall();
    const b = hungCall();
    const first = outcome(policy.execute(a.call));
    const second = outcome(policy.execute(b.call));
    a.resolve('first');
    await vi.advanceTimersByTimeAsync(50);
    expect(first.value).toBe('first');
    expect(vi.getTimerCount()).toBe(1); // the second call is still timed
    expect(holdsProcess()).toBe(true);
    b.resolve('second');
    await vi.advanceTimersByTimeAsync(0);
    expect(second.value).toBe('second');
    // Left armed for the next call, but no longer keeping the process alive.
    expect(holdsProcess()).toBe(false);
    const c = hungCall();
    const third = outcome(policy.execute(c.call));
    expect(holdsProcess()).toBe(true);
    expect(armed).toHaveBeenCalledTimes(1);
    c.resolve('third');
    // The first call's deadline passing later changes nothing; the timer then goes.
    await vi.advanceTimersByTimeAsync(100);
    expect(third.value).toBe('third');
    expect(first.value).toBe('first');
    expect(a.signal()?.aborted).toBe(false);
    expect(c.signal()?.aborted).toBe(false);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("settles at the caller's abort as cancelled, even when the provider ignores it", async () => {
    const policy = timeoutPolicy('vectorStore', 100);
    const outer = new AbortController();
    const answered = hungCall();
    const a = hungCall();
    const b = hungCall();
    const done = outcome(policy.execute(answered.call, outer.signal));
    answered.resolve('in time');
    await vi.advanceTimersByTimeAsync(0);
    const cancelled = outcome(policy.execute(a.call, outer.signal));
    const alsoCancelled = outcome(policy.execute(b.call, outer.signal));
    outer.abort(new Error('job cancelled'));
    await vi.advanceTimersByTimeAsync(0);
    expect(done.value).toBe('in time');
    expect(answered.signal()?.aborted).toBe(false);
    expect(cancelled.error).toBeInstanceOf(CancelledError);
    expect(alsoCancelled.error).toBeInstanceOf(CancelledError);
    expect(a.signal()?.aborted).toBe(true);
    expect(b.signal()?.aborted).toBe(true);
    expect(holdsProcess()).toBe(false);
    // Already aborted: the provider is never called.
    let called = false;
    const refused = outcome(
      policy.execute(async () => {
        called = true;
      }, outer.signal),
    );
    await vi.advanceTimersByTimeAsync(0);
    expect(refused.error).toBeInstanceOf(CancelledError);
    expect(called).toBe(false);
  });

  it("passes a provider's own failure through, and a synchronous throw as a rejection", async () => {
    const policy = timeoutPolicy('chat', 100);
    const boom = new Error('503');
    await expect(policy.execute(() => Promise.reject(boom))).rejects.toBe(boom);
    await expect(
      policy.execute(() => {
        throw boom;
      }),
    ).rejects.toBe(boom);
    expect(holdsProcess()).toBe(false);
  });
});
