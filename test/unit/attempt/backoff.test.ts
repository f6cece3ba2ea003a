import { describe, expect, it } from 'vitest';

import { computeBackoff } from '../../../src/worker/attempt/backoff.ts';

describe('computeBackoff', () => {
  const opts = { baseMs: 1000, maxMs: 60_000 };

  it('doubles per attempt, with equal jitter between half and the full delay', () => {
    expect(computeBackoff(1, opts, () => 0)).toBe(500);
    expect(computeBackoff(1, opts, () => 1)).toBe(1000);
    expect(computeBackoff(2, opts, () => 1)).toBe(2000);
    expect(computeBackoff(3, opts, () => 0.5)).toBe(3000);
    expect(computeBackoff(4, opts, () => 0)).toBe(4000);
  });

  it('is capped at maxMs however many attempts failed', () => {
    expect(computeBackoff(7, opts, () => 1)).toBe(60_000);
    expect(computeBackoff(500, opts, () => 1)).toBe(60_000);
    expect(computeBackoff(500, opts, () => 0)).toBe(30_000);
  });

  it('treats attempt 0 like the first', () => {
    expect(computeBackoff(0, opts, () => 1)).toBe(1000);
  });
});
