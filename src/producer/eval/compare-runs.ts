import type { CaseStatus } from './case-result.ts';
import {
  type BootstrapOptions,
  type Interval,
  mcnemarExact,
  pairedBootstrap,
} from './statistics.ts';
import type { RunSummary } from './summarize.ts';

/** What a comparison keeps of one case: its outcome, not its text. */
export interface CaseOutcome {
  status: CaseStatus;
  /** The question, cut to {@link QUESTION_CHARS}, for listing flips. */
  question: string;
  scores: Record<string, number>;
}

/** Characters of a question a comparison keeps. */
export const QUESTION_CHARS = 100;

/** A run as compared: its summary and each case's outcome, by case id. */
export interface ComparedRun {
  summary: RunSummary;
  cases: Map<string, CaseOutcome>;
}

export interface CaseChange {
  id: string;
  question: string;
  from: CaseStatus;
  to: CaseStatus;
}

/** A difference (b - a) over the cases both runs scored, with its 95% bootstrap interval. */
export interface MetricDelta {
  /** Means over the paired cases. */
  a: number;
  b: number;
  delta: Interval;
  /** Cases both runs have a score for. */
  n: number;
}

/** A drop `--fail-on-regression` fails on, and why. */
export interface Regression {
  /** `pass rate` or an assertion key. */
  metric: string;
  /** b - a (negative). */
  delta: number;
  n: number;
  /** `significant`: the interval (or McNemar) rules out no change; `max-drop`: larger than allowed. */
  reason: 'significant' | 'max-drop';
  /** How it reads in a terminal. */
  text: string;
}

export interface RunComparison {
  a: string;
  b: string;
  /** Cases in both runs. */
  paired: number;
  alpha: number;
  maxDrop?: number;
  /** Pass rate over the paired cases, the bootstrap of its difference and McNemar's test. */
  passRate: MetricDelta & { mcnemarP: number };
  /** Per assertion key in both runs. */
  metrics: Record<string, MetricDelta>;
  /** Passed in a, not passed in b. */
  regressed: CaseChange[];
  /** Not passed in a, passed in b. */
  improved: CaseChange[];
  onlyInA: number;
  onlyInB: number;
  latencyMs: { p50: Delta; p95: Delta };
  costUsd: Delta;
  /** What fails `--fail-on-regression`; empty when nothing dropped beyond noise. */
  regressions: Regression[];
}

export interface Delta {
  a: number;
  b: number;
  delta: number;
}

export interface CompareOptions extends BootstrapOptions {
  /** Any drop larger than this (pass rate or a metric's mean, as a fraction) is a regression. @defaultValue none */
  maxDrop?: number;
}

/**
 * Compares run b against run a (the baseline) on the cases both ran, pairing each case with
 * itself: the pass rate and every metric's mean get their difference with a 95% paired
 * bootstrap interval, and pass/fail flips an exact McNemar test. A regression is a drop the
 * statistics call significant at `alpha` (the interval lies below 0; McNemar's p < alpha with
 * more regressed than improved), or one larger than `maxDrop`.
 */
export function compareRuns(
  a: ComparedRun,
  b: ComparedRun,
  options: CompareOptions = {},
): RunComparison {
  const alpha = options.alpha ?? 0.05;
  const boot = { ...options, alpha };
  const regressed: CaseChange[] = [];
  const improved: CaseChange[] = [];
  const passA: number[] = [];
  const passB: number[] = [];
  const scores = new Map<string, { a: number[]; b: number[] }>();
  let onlyInA = 0;
  for (const [id, ca] of a.cases) {
    const cb = b.cases.get(id);
    if (!cb) {
      onlyInA += 1;
      continue;
    }
    passA.push(ca.status === 'passed' ? 1 : 0);
    passB.push(cb.status === 'passed' ? 1 : 0);
    const change = { id, question: cb.question, from: ca.status, to: cb.status };
    if (ca.status === 'passed' && cb.status !== 'passed') regressed.push(change);
    if (ca.status !== 'passed' && cb.status === 'passed') improved.push(change);
    for (const [key, sa] of Object.entries(ca.scores)) {
      const sb = cb.scores[key];
      if (sb === undefined) continue;
      const pair = scores.get(key) ?? { a: [], b: [] };
      pair.a.push(sa);
      pair.b.push(sb);
      scores.set(key, pair);
    }
  }
  const onlyInB = [...b.cases.keys()].filter((id) => !a.cases.has(id)).length;
  const passRate = {
    ...paired(passA, passB, boot),
    mcnemarP: round(mcnemarExact(regressed.length, improved.length), 6),
  };
  const metrics: Record<string, MetricDelta> = {};
  for (const key of [...scores.keys()].sort()) {
    const pair = scores.get(key)!;
    metrics[key] = paired(pair.a, pair.b, boot);
  }
  const regressions: Regression[] = [];
  const pct = (n: number) => `${(n * 100).toFixed(1)} pt`;
  const passDrop = -passRate.delta.value;
  if (passDrop > 0) {
    const significant = passRate.mcnemarP < alpha && regressed.length > improved.length;
    const tooBig = options.maxDrop !== undefined && passDrop > options.maxDrop;
    if (significant || tooBig) {
      regressions.push({
        metric: 'pass rate',
        delta: passRate.delta.value,
        n: passRate.n,
        reason: significant ? 'significant' : 'max-drop',
        text:
          `pass rate dropped ${pct(passDrop)} over ${passRate.n} cases ` +
          `(${regressed.length} regressed, ${improved.length} improved; McNemar p ${fmtP(passRate.mcnemarP)}` +
          (significant ? `, below α ${alpha}` : `; more than --max-drop ${pct(options.maxDrop!)}`) +
          ')',
      });
    }
  }
  for (const [key, m] of Object.entries(metrics)) {
    const drop = -m.delta.value;
    if (!(drop > 0)) continue;
    const significant = m.delta.high < 0;
    const tooBig = options.maxDrop !== undefined && drop > options.maxDrop;
    if (!significant && !tooBig) continue;
    regressions.push({
      metric: key,
      delta: m.delta.value,
      n: m.n,
      reason: significant ? 'significant' : 'max-drop',
      text:
        `${key} mean dropped ${drop.toFixed(3)} over ${m.n} cases ` +
        `(95% CI ${signed(m.delta.low)} … ${signed(m.delta.high)}` +
        (significant ? '' : `; more than --max-drop ${options.maxDrop}`) +
        ')',
    });
  }
  return {
    a: a.summary.runId,
    b: b.summary.runId,
    paired: passA.length,
    alpha,
    ...(options.maxDrop === undefined ? {} : { maxDrop: options.maxDrop }),
    passRate,
    metrics,
    regressed,
    improved,
    onlyInA,
    onlyInB,
    latencyMs: {
      p50: delta(a.summary.latency.total.p50, b.summary.latency.total.p50),
      p95: delta(a.summary.latency.total.p95, b.summary.latency.total.p95),
    },
    costUsd: delta(a.summary.costUsd, b.summary.costUsd),
    regressions,
  };
}

function paired(a: number[], b: number[], options: BootstrapOptions): MetricDelta {
  const ci = pairedBootstrap(a, b, options);
  return {
    a: round(mean(a)),
    b: round(mean(b)),
    delta: { value: round(ci.value), low: round(ci.low), high: round(ci.high) },
    n: a.length,
  };
}

function mean(values: number[]): number {
  return values.length === 0 ? 0 : values.reduce((x, y) => x + y, 0) / values.length;
}

function delta(a: number, b: number): Delta {
  return { a, b, delta: round(b - a) };
}

/** `+0.012`, `-0.150`. */
export function signed(n: number, digits = 3): string {
  return `${n >= 0 ? '+' : ''}${n.toFixed(digits)}`;
}

/** A p-value with its relation, as people read it: `= 0.0312`, `< 0.0001`. */
export function fmtP(p: number): string {
  return p < 0.0001 ? '< 0.0001' : `= ${p.toFixed(4)}`;
}

function round(n: number, digits = 4): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}
