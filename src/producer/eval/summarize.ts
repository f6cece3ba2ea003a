import { DEFAULT_PRICES, estimateCost, type PriceTable } from '../../shared/price-table.ts';
import { DEFAULT_THRESHOLDS } from '../../shared/scoring/assertions.ts';
import type { CaseResult } from './case-result.ts';
import type { RunManifest } from './run-store.ts';
import { meanInterval } from './statistics.ts';
import {
  acc,
  type MetricAcc,
  VariantAcc,
  type VariantSummary,
  variantSummary,
} from './variant-summary.ts';

export interface LatencyStats {
  p50: number;
  p95: number;
  p99: number;
  mean: number;
}

/** A metric over the cases that have it: mean (with its 95% interval) and pass rate. */
export interface MetricSummary {
  mean: number;
  /** 95% interval of the mean (normal approximation). */
  meanCi: [number, number];
  passRate: number;
  count: number;
}

export type { VariantSummary } from './variant-summary.ts';

/**
 * Whether a metric is reported, not gated: its type passes every score by default (`mrr`,
 * threshold 0) and no case failed it. Its pass rate is then 100 % whatever the scores, so a
 * reader is shown its mean alone, not a pass rate that reads as a result. A case that gave it
 * a threshold of its own and failed it makes it gated again.
 */
export function isReportedOnly(key: string, metric: Pick<MetricSummary, 'passRate'>): boolean {
  const thresholds: Readonly<Record<string, number>> = DEFAULT_THRESHOLDS;
  return metric.passRate === 1 && thresholds[key.split('#', 1)[0]!] === 0;
}

/** summary.json. */
export interface RunSummary {
  runId: string;
  file: string;
  /** Rows read: valid + invalid. */
  total: number;
  valid: number;
  invalid: number;
  /** Results (passed, failed or error); a case runs once per variant and repeat. */
  completed: number;
  passed: number;
  failed: number;
  errored: number;
  /** Expected results with none yet (the run is still going, or --max-cost stopped it). */
  notRun: number;
  /** passed / (passed + failed + errored); 0 when nothing finished. */
  passRate: number;
  /** Per assertion key: mean score (with 95% interval) and pass rate over the cases that have it. */
  metrics: Record<string, MetricSummary>;
  /** Per variant, when the run has variants: side by side, with 95% intervals. */
  variants?: Record<string, VariantSummary>;
  /** Milliseconds, over answered cases, per stage. */
  latency: Record<'queue' | 'retrieve' | 'generate' | 'total', LatencyStats>;
  /** Total latency of answered cases in 12 equal buckets from 0 to the maximum. */
  latencyHistogram: { bucketMs: number; counts: number[] };
  /** Attempts taken → cases. */
  attempts: Record<string, number>;
  /** Answered cases a fallback answered. */
  degraded: number;
  /**
   * Per degraded reason: answered cases (`answered`), and errored cases that would have been
   * answered degraded had they not opted out (`errors`; evaluations opt out by default).
   */
  degradedReasons: Record<string, { answered: number; errors: number }>;
  /** Tokens of answering. */
  tokens: { input: number; output: number };
  /** USD of answering, from the price table; models without a price are listed in `unpricedModels`. */
  costUsd: number;
  /** What grading (judge, the RAG metrics with method `llm`) used, apart from answering. */
  grader: { models: string[]; tokens: { input: number; output: number }; costUsd: number };
  /** Errored cases per reason (the first 120 characters), most frequent first; at most 20. */
  errorReasons: Record<string, number>;
  /** Cases answered through the Batch API, and what the run would have cost answered online. */
  batch?: { answered: number; onlineCostUsd: number };
  unpricedModels: string[];
  /** From the first enqueue to the last result, in seconds. */
  wallSeconds: number;
  /** Results per second of wall time. */
  throughput: number;
  stoppedBy?: 'max-cost';
}

/**
 * The summary of a run from its results (one per case, variant and repeat) and manifest.
 * Streams: it holds running sums, the latencies (numbers) and, with repeats, two counters per
 * case, never the results themselves.
 */
export async function summarize(
  manifest: RunManifest,
  results: Iterable<CaseResult> | AsyncIterable<CaseResult>,
  prices: PriceTable = {},
  wallMs?: number,
): Promise<RunSummary> {
  const table = { ...DEFAULT_PRICES, ...prices };
  const lat = {
    queue: [] as number[],
    retrieve: [] as number[],
    generate: [] as number[],
    total: [] as number[],
  };
  const metricAcc = new Map<string, MetricAcc>();
  const variants = new Map<string, VariantAcc>();
  const attempts: Record<string, number> = {};
  const unpriced = new Set<string>();
  const grader = { models: new Set<string>(), input: 0, output: 0, cost: 0 };
  const reasons = new Map<string, number>();
  let passed = 0;
  let failed = 0;
  let errored = 0;
  let degraded = 0;
  const degradedReasons: RunSummary['degradedReasons'] = {};
  const countReason = (reason: string, key: 'answered' | 'errors') => {
    const entry = (degradedReasons[reason] ??= { answered: 0, errors: 0 });
    entry[key] += 1;
  };
  let tokensIn = 0;
  let tokensOut = 0;
  let cost = 0;
  let onlineCost = 0;
  let batchAnswered = 0;
  let first = Infinity;
  let last = 0;
  for await (const r of results) {
    if (r.status === 'passed') passed += 1;
    else if (r.status === 'failed') failed += 1;
    else errored += 1;
    // Repeats without variants are summarised as the one variant `default`.
    const group = r.variant ?? (r.repeat === undefined ? undefined : 'default');
    const v = group === undefined ? undefined : (variants.get(group) ?? new VariantAcc());
    if (v && group !== undefined) {
      variants.set(group, v);
      if (r.status === 'passed') v.passed += 1;
      else if (r.status === 'failed') v.failed += 1;
      else v.errored += 1;
      if (r.repeat !== undefined) {
        const rep = v.repeats.get(r.caseId ?? r.id) ?? [0, 0];
        rep[0] += r.status === 'passed' ? 1 : 0;
        rep[1] += 1;
        v.repeats.set(r.caseId ?? r.id, rep);
      }
    }
    attempts[String(r.attempts)] = (attempts[String(r.attempts)] ?? 0) + 1;
    last = Math.max(last, r.finishedAt);
    first = Math.min(first, r.finishedAt - r.timings.totalMs);
    if (r.graderUsage) {
      grader.input += r.graderUsage.inputTokens;
      grader.output += r.graderUsage.outputTokens;
      const model = r.graderModel ?? '';
      grader.models.add(model);
      const c = estimateCost(table, model, r.graderUsage);
      if (c === undefined) unpriced.add(model);
      else grader.cost += c;
    }
    if (r.status === 'error') {
      const reason = (r.error ?? 'unknown').slice(0, 120);
      reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
      if (r.degradedReason) countReason(r.degradedReason, 'errors');
      continue;
    }
    if (r.degraded) degraded += 1;
    if (r.degradedReason) countReason(r.degradedReason, 'answered');
    lat.queue.push(r.timings.queueMs);
    lat.retrieve.push(r.timings.retrieveMs);
    lat.generate.push(r.timings.generateMs);
    lat.total.push(r.timings.totalMs);
    tokensIn += r.usage.inputTokens;
    tokensOut += r.usage.outputTokens;
    const c = estimateCost(table, r.model, r.usage, r.batchId ? 'batch' : 'online');
    if (c === undefined) unpriced.add(r.model);
    else cost += c;
    if (r.batchId) {
      batchAnswered += 1;
      onlineCost += estimateCost(table, r.model, r.usage) ?? 0;
    } else onlineCost += c ?? 0;
    for (const [key, score] of Object.entries(r.scores)) {
      const ok = !r.failedAssertions.includes(key);
      acc(metricAcc, key).add(score, ok);
      if (v) acc(v.metrics, key).add(score, ok);
    }
  }
  const completed = passed + failed + errored;
  const wall = wallMs ?? (completed > 0 ? last - first : 0);
  const expected = manifest.enqueued.valid * Math.max(1, manifest.settings.runsPerCase ?? 1);
  return {
    runId: manifest.runId,
    file: manifest.file,
    total: manifest.enqueued.valid + manifest.enqueued.invalid,
    valid: manifest.enqueued.valid,
    invalid: manifest.enqueued.invalid,
    completed,
    passed,
    failed,
    errored,
    notRun: Math.max(0, expected - completed),
    passRate: completed === 0 ? 0 : round(passed / completed),
    metrics: Object.fromEntries(
      [...metricAcc].map(([k, m]) => {
        const ci = meanInterval(m.count, m.sum, m.squares);
        return [
          k,
          {
            mean: round(ci.value),
            meanCi: [round(Math.max(0, ci.low)), round(Math.min(1, ci.high))],
            passRate: round(m.pass / m.count),
            count: m.count,
          },
        ];
      }),
    ),
    ...(variants.size > 0
      ? { variants: Object.fromEntries([...variants].map(([k, v]) => [k, variantSummary(v)])) }
      : {}),
    latency: {
      queue: stats(lat.queue),
      retrieve: stats(lat.retrieve),
      generate: stats(lat.generate),
      total: stats(lat.total),
    },
    latencyHistogram: histogram(lat.total),
    attempts,
    degraded,
    degradedReasons,
    tokens: { input: tokensIn, output: tokensOut },
    costUsd: Math.round(cost * 1_000_000) / 1_000_000,
    grader: {
      models: [...grader.models].filter(Boolean).sort(),
      tokens: { input: grader.input, output: grader.output },
      costUsd: Math.round(grader.cost * 1_000_000) / 1_000_000,
    },
    errorReasons: Object.fromEntries(
      [...reasons].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).slice(0, 20),
    ),
    ...(batchAnswered > 0
      ? {
          batch: {
            answered: batchAnswered,
            onlineCostUsd: Math.round(onlineCost * 1_000_000) / 1_000_000,
          },
        }
      : {}),
    unpricedModels: [...unpriced].filter(Boolean),
    wallSeconds: round(wall / 1000),
    throughput: wall > 0 ? round(completed / (wall / 1000)) : 0,
    ...(manifest.enqueued.stoppedBy ? { stoppedBy: manifest.enqueued.stoppedBy } : {}),
  };
}

/** Nearest-rank percentile of unsorted values; 0 for none. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return nearestRank(sorted, p);
}

function nearestRank(sorted: ArrayLike<number>, p: number): number {
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1]!;
}

function stats(values: number[]): LatencyStats {
  if (values.length === 0) return { p50: 0, p95: 0, p99: 0, mean: 0 };
  const sorted = Float64Array.from(values).sort();
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  return {
    p50: round(nearestRank(sorted, 50)),
    p95: round(nearestRank(sorted, 95)),
    p99: round(nearestRank(sorted, 99)),
    mean: round(mean),
  };
}

function histogram(values: number[], buckets = 12): RunSummary['latencyHistogram'] {
  const counts = new Array<number>(buckets).fill(0);
  if (values.length === 0) return { bucketMs: 0, counts };
  let max = 1;
  for (const v of values) if (v > max) max = v;
  const width = max / buckets;
  for (const v of values) counts[Math.min(buckets - 1, Math.floor(v / width))]! += 1;
  return { bucketMs: round(width), counts };
}

function round(n: number): number {
  return Math.round(n * 10_000) / 10_000;
}
