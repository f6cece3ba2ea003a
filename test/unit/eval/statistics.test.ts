import { describe, expect, it } from 'vitest';

import {
  mcnemarExact,
  meanInterval,
  pairedBootstrap,
  seededRandom,
  wilsonInterval,
} from '../../../src/producer/eval/statistics.ts';

describe('eval statistics', () => {
  it('seeded random repeats for a seed and differs between seeds', () => {
    const a = seededRandom(42);
    const b = seededRandom(42);
    const c = seededRandom(43);
    const xs = [a(), a(), a()];
    expect([b(), b(), b()]).toEqual(xs);
    expect(c()).not.toBe(xs[0]);
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
  });

  it('McNemar exact p-values match the binomial test', () => {
    expect(mcnemarExact(0, 0)).toBe(1);
    // 2 · P(X ≤ 0 | n = 5) = 2/32.
    expect(mcnemarExact(5, 0)).toBeCloseTo(0.0625, 12);
    // 2 · P(X ≤ 1 | n = 10) = 2 · 11/1024.
    expect(mcnemarExact(9, 1)).toBeCloseTo(22 / 1024, 12);
    expect(mcnemarExact(1, 9)).toBeCloseTo(22 / 1024, 12);
    expect(mcnemarExact(3, 3)).toBe(1);
    // Large counts stay finite (no overflow of C(n, k)).
    const p = mcnemarExact(600, 400);
    expect(p).toBeGreaterThan(0);
    expect(p).toBeLessThan(1e-9);
  });

  it('Wilson interval brackets the rate and stays inside [0, 1]', () => {
    const all = wilsonInterval(20, 20);
    expect(all.value).toBe(1);
    expect(all.high).toBe(1);
    expect(all.low).toBeCloseTo(0.8389, 3);
    const half = wilsonInterval(50, 100);
    expect(half.low).toBeCloseTo(0.4038, 3);
    expect(half.high).toBeCloseTo(0.5962, 3);
  });

  it('mean interval is mean ± 1.96 s/√n', () => {
    // Values 0, 1, 0, 1: mean 0.5, s = 0.57735, half = 1.96 · 0.57735 / 2.
    const m = meanInterval(4, 2, 2);
    expect(m.value).toBe(0.5);
    expect(m.high - m.value).toBeCloseTo(0.565794, 5);
    expect(meanInterval(1, 0.7, 0.49)).toEqual({ value: 0.7, low: 0.7, high: 0.7 });
  });

  it('paired bootstrap is deterministic for a seed and excludes 0 only for a real shift', () => {
    const random = seededRandom(7);
    const a = Array.from({ length: 200 }, () => random());
    const shifted = a.map((x) => x - 0.1);
    const noisy = a.map((x, i) => x + (i % 2 === 0 ? 0.05 : -0.05));
    const drop = pairedBootstrap(a, shifted, { seed: 3 });
    expect(drop.value).toBeCloseTo(-0.1, 10);
    expect(drop.high).toBeLessThan(0);
    expect(pairedBootstrap(a, shifted, { seed: 3 })).toEqual(drop);
    const none = pairedBootstrap(a, noisy, { seed: 3 });
    expect(none.low).toBeLessThan(0);
    expect(none.high).toBeGreaterThan(0);
    expect(() => pairedBootstrap([1], [1, 2])).toThrow(RangeError);
  });
});
