import { type Interval, meanInterval, wilsonInterval } from './statistics.ts';

/**
 * Per-variant sums of a run's summary (src/producer/eval/summarize.ts): pass rate and each
 * metric's mean with their 95% intervals, and the spread of repeats.
 */

/** One variant of a run (`--variant`), for side-by-side comparison. */
export interface VariantSummary {
  completed: number;
  passed: number;
  failed: number;
  errored: number;
  /** passed / completed with its 95% Wilson interval. */
  passRate: Interval;
  metrics: Record<string, { mean: Interval; passRate: number; count: number }>;
  /**
   * With `--repeat`: the spread of each case's pass rate over its repeats, averaged over cases
   * (0 when every repeat agrees), and how many cases' repeats disagree.
   */
  repeatSpread?: { meanStdDev: number; flakyCases: number };
}

/** Running sums of one metric. */
export class MetricAcc {
  sum = 0;
  squares = 0;
  pass = 0;
  count = 0;
  add(score: number, passed: boolean): void {
    this.sum += score;
    this.squares += score * score;
    this.count += 1;
    if (passed) this.pass += 1;
  }
}

/** Running sums of one variant. */
export class VariantAcc {
  passed = 0;
  failed = 0;
  errored = 0;
  metrics = new Map<string, MetricAcc>();
  /** Per case id, passes and runs over its repeats. */
  repeats = new Map<string, [number, number]>();
}

/** The accumulator of `key`, created on first use. */
export function acc(map: Map<string, MetricAcc>, key: string): MetricAcc {
  let m = map.get(key);
  if (!m) map.set(key, (m = new MetricAcc()));
  return m;
}

/** A variant's sums as summary.json shows them. */
export function variantSummary(v: VariantAcc): VariantSummary {
  const completed = v.passed + v.failed + v.errored;
  const spread = [...v.repeats.values()].filter(([, n]) => n > 1);
  return {
    completed,
    passed: v.passed,
    failed: v.failed,
    errored: v.errored,
    passRate: roundInterval(wilsonInterval(v.passed, completed)),
    metrics: Object.fromEntries(
      [...v.metrics].map(([k, m]) => [
        k,
        {
          mean: roundInterval(meanInterval(m.count, m.sum, m.squares)),
          passRate: round(m.pass / m.count),
          count: m.count,
        },
      ]),
    ),
    ...(spread.length > 0
      ? {
          repeatSpread: {
            meanStdDev: round(
              spread.reduce((s, [p, n]) => s + Math.sqrt((p / n) * (1 - p / n)), 0) / spread.length,
            ),
            flakyCases: spread.filter(([p, n]) => p > 0 && p < n).length,
          },
        }
      : {}),
  };
}

/** Rounded, and clamped to [0, 1]: scores and rates cannot leave it, whatever the approximation says. */
function roundInterval(i: Interval): Interval {
  return {
    value: round(i.value),
    low: round(Math.max(0, i.low)),
    high: round(Math.min(1, i.high)),
  };
}

function round(n: number): number {
  return Math.round(n * 10_000) / 10_000;
}
