/**
 * The statistics `askq eval` reports: confidence intervals of means and rates, a paired
 * bootstrap of the difference between two runs (or variants) on the same cases, and the exact
 * McNemar test of pass/fail flips. Pure functions; randomness comes from a seeded generator,
 * so a comparison prints the same figures every time.
 */

/** A value with its confidence interval. */
export interface Interval {
  value: number;
  low: number;
  high: number;
}

/** z of a two-sided 95% interval. */
const Z95 = 1.959963984540054;

/** Mulberry32: a small, fast, seeded generator of floats in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/**
 * The mean with a 95% normal-approximation interval (mean ± 1.96·s/√n); the interval is the
 * mean itself for fewer than two values. Fine for the sample sizes of an evaluation; the
 * bootstrap is kept for differences, where skew matters more.
 */
export function meanInterval(count: number, sum: number, sumOfSquares: number): Interval {
  if (count === 0) return { value: 0, low: 0, high: 0 };
  const mean = sum / count;
  if (count < 2) return { value: mean, low: mean, high: mean };
  const variance = Math.max(0, (sumOfSquares - count * mean * mean) / (count - 1));
  const half = Z95 * Math.sqrt(variance / count);
  return { value: mean, low: mean - half, high: mean + half };
}

/** A proportion with its 95% Wilson score interval (sensible near 0 and 1, unlike Wald's). */
export function wilsonInterval(successes: number, trials: number): Interval {
  if (trials === 0) return { value: 0, low: 0, high: 0 };
  const p = successes / trials;
  const z2 = Z95 * Z95;
  const centre = (p + z2 / (2 * trials)) / (1 + z2 / trials);
  const half =
    (Z95 * Math.sqrt((p * (1 - p)) / trials + z2 / (4 * trials * trials))) / (1 + z2 / trials);
  return { value: p, low: Math.max(0, centre - half), high: Math.min(1, centre + half) };
}

export interface BootstrapOptions {
  /** Resamples. @defaultValue 2000 */
  iterations?: number;
  /** Seed of the generator. @defaultValue 1 */
  seed?: number;
  /** 1 - confidence. @defaultValue 0.05 */
  alpha?: number;
}

export const BOOTSTRAP_DEFAULTS = {
  iterations: 2000,
  seed: 1,
  alpha: 0.05,
} satisfies BootstrapOptions;

/**
 * The mean of paired differences `b[i] - a[i]` with a percentile bootstrap interval: cases are
 * resampled with replacement, so the interval reflects how much the difference depends on
 * which cases happen to be in the file.
 */
export function pairedBootstrap(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  options: BootstrapOptions = {},
): Interval {
  const { iterations, seed, alpha } = { ...BOOTSTRAP_DEFAULTS, ...options };
  if (a.length !== b.length)
    throw new RangeError(`paired samples differ in length: ${a.length} and ${b.length}`);
  const n = a.length;
  if (n === 0) return { value: 0, low: 0, high: 0 };
  const diffs = new Float64Array(n);
  let total = 0;
  for (let i = 0; i < n; i += 1) {
    diffs[i] = b[i]! - a[i]!;
    total += diffs[i]!;
  }
  const random = seededRandom(seed);
  const means = new Float64Array(iterations);
  for (let r = 0; r < iterations; r += 1) {
    let sum = 0;
    for (let i = 0; i < n; i += 1) sum += diffs[Math.floor(random() * n)]!;
    means[r] = sum / n;
  }
  means.sort();
  const at = (q: number) =>
    means[Math.min(iterations - 1, Math.max(0, Math.floor(q * iterations)))]!;
  return { value: total / n, low: at(alpha / 2), high: at(1 - alpha / 2) };
}

/**
 * The exact (binomial) McNemar test of paired pass/fail outcomes: `regressed` cases passed in
 * a and not in b, `improved` the reverse. Under "no change" each flip goes either way with
 * probability ½; the two-sided p-value is twice the smaller tail of Binomial(flips, ½), at most 1.
 */
export function mcnemarExact(regressed: number, improved: number): number {
  const n = regressed + improved;
  if (n === 0) return 1;
  const k = Math.min(regressed, improved);
  // Tail sum in log space: C(n, i) / 2^n overflows doubles long before n is large.
  let logPmf = -n * Math.LN2;
  let logTail = logPmf;
  for (let i = 0; i < k; i += 1) {
    logPmf += Math.log((n - i) / (i + 1));
    logTail = logAddExp(logTail, logPmf);
  }
  return Math.min(1, 2 * Math.exp(logTail));
}

function logAddExp(x: number, y: number): number {
  const m = Math.max(x, y);
  return m + Math.log(Math.exp(x - m) + Math.exp(y - m));
}
