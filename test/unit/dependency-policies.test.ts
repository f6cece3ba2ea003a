import { afterEach, describe, expect, it } from 'vitest';

import {
  BreakerOpenError,
  PermanentError,
  RateLimitedError,
  TransientError,
} from '../../src/shared/errors.ts';
import type { BreakerState } from '../../src/worker/resilience/breaker-policy.ts';
import {
  createDependencyPolicies,
  type DependencyPolicy,
  type DependencyPolicyOptions,
} from '../../src/worker/resilience/dependency-policies.ts';

const policies: DependencyPolicy[] = [];
afterEach(() => {
  for (const p of policies.splice(0)) p.breaker.shutdown();
});

/** The chat policy as the worker composes it: pause, breaker, timeout, classification. */
function guard(options: Partial<DependencyPolicyOptions> = {}) {
  const states: BreakerState[] = [];
  const waiters: { state: BreakerState; resolve: () => void }[] = [];
  const all = createDependencyPolicies({
    callTimeoutMs: 30_000,
    volumeThreshold: 3,
    errorThresholdPercentage: 50,
    resetTimeoutMs: 60_000,
    rollingCountTimeoutMs: 10_000,
    onBreakerState: (dependency, state) => {
      if (dependency !== 'chat') return;
      states.push(state);
      for (const w of waiters.filter((w) => w.state === state)) w.resolve();
    },
    ...options,
  });
  policies.push(...Object.values(all));
  const g = all.chat;
  /** Resolves on the breaker's next change to `state` (an event, not a poll). */
  const next = (state: BreakerState) =>
    new Promise<void>((resolve) => waiters.push({ state, resolve }));
  return { g, states, next };
}

const fail = (err: Error) => () => Promise.reject(err);

describe('the dependency policy (pause, breaker, timeout, classification)', () => {
  it('gives every call its own timeout signal and rejects as transient when it fires', async () => {
    const { g } = guard({ callTimeoutMs: 30 });
    let seen: AbortSignal | undefined;
    const err = await g
      .execute((signal) => {
        seen = signal;
        return new Promise(() => {}); // a provider that ignores its signal
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransientError);
    expect((err as Error).message).toMatch(/chat call timed out after 30 ms/);
    expect(seen?.aborted).toBe(true);
    // A second call is not affected by the first one's timeout.
    await expect(g.execute(async (signal) => signal.aborted)).resolves.toBe(false);
  });

  it('opens after enough transient failures, then fails fast without calling', async () => {
    const { g, states } = guard();
    for (let i = 0; i < 3; i += 1) {
      expect(g.refuses()).toBe(false);
      await expect(g.execute(fail(new TransientError('503')))).rejects.toBeInstanceOf(
        TransientError,
      );
    }
    expect(g.breaker.state).toBe('open');
    expect(states).toEqual(['open']);
    expect(g.refuses()).toBe(true);
    let called = false;
    const err = await g
      .execute(async () => {
        called = true;
      })
      .catch((e: unknown) => e);
    expect(called).toBe(false);
    expect(err).toBeInstanceOf(BreakerOpenError);
    // Open since a moment ago: the outage so far, not the reset time.
    expect((err as BreakerOpenError).outageMs).toBeGreaterThanOrEqual(0);
    expect((err as BreakerOpenError).outageMs).toBeLessThan(1000);
    expect((err as BreakerOpenError).retryAfterMs).toBeGreaterThan(59_000);
    expect((err as BreakerOpenError).retryAfterMs).toBeLessThanOrEqual(60_000);
  });

  it('does not count permanent errors or rate limits against the breaker', async () => {
    const { g } = guard();
    for (let i = 0; i < 5; i += 1) {
      await expect(g.execute(fail(new PermanentError('400')))).rejects.toBeInstanceOf(
        PermanentError,
      );
      await expect(g.execute(fail(new RateLimitedError('429')))).rejects.toBeInstanceOf(
        RateLimitedError,
      );
    }
    expect(g.breaker.state).toBe('closed');
  });

  it('half-opens after the reset time and closes on a successful trial', async () => {
    const { g, states, next } = guard({ resetTimeoutMs: 50 });
    const halfOpen = next('halfOpen');
    for (let i = 0; i < 3; i += 1) await g.execute(fail(new TransientError('x'))).catch(() => {});
    expect(g.breaker.state).toBe('open');
    expect(g.refuses()).toBe(true);
    await halfOpen;
    // Half-open lets a trial through: a caller must not hold it back.
    expect(g.refuses()).toBe(false);
    await expect(g.execute(async () => 'ok')).resolves.toBe('ok');
    expect(states).toEqual(['open', 'halfOpen', 'closed']);
    expect(g.refuses()).toBe(false);
  });

  it('reports the outage across failed half-open trials, and forgets it once closed', async () => {
    const { g, next } = guard({ resetTimeoutMs: 50 });
    const firstOpen = Date.now();
    for (let i = 0; i < 3; i += 1) await g.execute(fail(new TransientError('x'))).catch(() => {});
    await next('halfOpen');
    const reopened = next('open');
    await g.execute(fail(new TransientError('still down'))).catch(() => {});
    await reopened;
    const err = (await g.execute(async () => 'x').catch((e: unknown) => e)) as BreakerOpenError;
    expect(err).toBeInstanceOf(BreakerOpenError);
    // The outage counts from the first opening, through the failed trial (≥ one reset period).
    expect(err.outageMs).toBeGreaterThanOrEqual(50);
    expect(err.outageMs).toBeLessThanOrEqual(Date.now() - firstOpen);

    await next('halfOpen');
    await expect(g.execute(async () => 'ok')).resolves.toBe('ok');
    // Closed: a new outage starts from its own opening.
    const secondOutage = Date.now();
    for (let i = 0; i < 3; i += 1) await g.execute(fail(new TransientError('x'))).catch(() => {});
    const fresh = (await g.execute(async () => 'x').catch((e: unknown) => e)) as BreakerOpenError;
    expect(fresh.outageMs).toBeLessThanOrEqual(Date.now() - secondOutage);
  });

  it("refuses calls for a provider's retry-after, from the moment its 429 is classified", async () => {
    const { g } = guard();
    const tooMany = Object.assign(new Error('slow down'), {
      status: 429,
      headers: { 'retry-after': '30' },
    });
    const first = await g.execute(fail(tooMany)).catch((e: unknown) => e);
    expect(first).toBeInstanceOf(RateLimitedError);
    expect(g.refuses()).toBe(true);
    let called = false;
    const refused = await g
      .execute(async () => {
        called = true;
      })
      .catch((e: unknown) => e);
    expect(called).toBe(false);
    expect(refused).toBeInstanceOf(RateLimitedError);
    expect((refused as RateLimitedError).retryAfterMs).toBeGreaterThan(29_000);
    expect(g.breaker.state).toBe('closed');
  });

  it('classifies unknown errors from the provider (a 404 is permanent)', async () => {
    const { g } = guard();
    const notFound = Object.assign(new Error('model not found'), { status: 404 });
    await expect(g.execute(fail(notFound))).rejects.toBeInstanceOf(PermanentError);
  });
});
