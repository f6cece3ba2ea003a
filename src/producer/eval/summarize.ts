import { estimateCost, type PriceTable } from '../../shared/price-table.ts';
import { DEFAULT_PRICES } from '../../shared/price-table.ts';
import type { CaseResult } from './case-result.ts';
import type { RunManifest } from './run-store.ts';

export interface LatencyStats {
  p50: number;
  p95: number;
  p99: number;
  mean: number;
}

/** summary.json. */
export interface RunSummary {
  runId: string;
  file: string;
  /** Rows read: valid + invalid. */
  total: number;
  valid: number;
  invalid: number;
  /** Cases with a result (passed, failed or error). */
  completed: number;
  passed: number;
  failed: number;
  errored: number;
  /** Valid cases with no result (the run is still going, or --max-cost stopped it). */
  notRun: number;
  /** passed / (passed + failed + errored); 0 when nothing finished. */
  passRate: number;
  /** Per assertion key: mean score and pass rate over the cases that have it. */
  metrics: Record<string, { mean: number; passRate: number; count: number }>;
  /** Milliseconds, over answered cases, per stage. */
  latency: Record<'queue' | 'retrieve' | 'generate' | 'total', LatencyStats>;
  /** Attempts taken → cases. */
  attempts: Record<string, number>;
  /** Answered cases a fallback answered. */
  degraded: number;
  /**
   * Per degraded reason: answered cases (`answered`), and errored cases that would have been
   * answered degraded had they not opted out (`errors`; evaluations opt out by default).
   */
  degradedReasons: Record<string, { answered: number; errors: number }>;
  tokens: { input: number; output: number };
  /** USD, from the price table; models without a price are listed in `unpricedModels`. */
  costUsd: number;
  unpricedModels: string[];
  /** From the first enqueue to the last result, in seconds. */
  wallSeconds: number;
  /** Results per second of wall time. */
  throughput: number;
  stoppedBy?: 'max-cost';
}

/** The summary of a run from its results (by case id) and manifest. */
export function summarize(
  manifest: RunManifest,
  results: Iterable<CaseResult>,
  prices: PriceTable = {},
  wallMs?: number,
): RunSummary {
  const table = { ...DEFAULT_PRICES, ...prices };
  const lat = {
    queue: [] as number[],
    retrieve: [] as number[],
    generate: [] as number[],
    total: [] as number[],
  };
  const metricAcc = new Map<string, { sum: number; pass: number; count: number }>();
  const attempts: Record<string, number> = {};
  const unpriced = new Set<string>();
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
  let first = Infinity;
  let last = 0;
  for (const r of results) {
    if (r.status === 'passed') passed += 1;
    else if (r.status === 'failed') failed += 1;
    else errored += 1;
    attempts[String(r.attempts)] = (attempts[String(r.attempts)] ?? 0) + 1;
    last = Math.max(last, r.finishedAt);
    first = Math.min(first, r.finishedAt - r.timings.totalMs);
    if (r.status === 'error') {
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
    const c = estimateCost(table, r.model, r.usage);
    if (c === undefined) unpriced.add(r.model);
    else cost += c;
    for (const [key, score] of Object.entries(r.scores)) {
      const m = metricAcc.get(key) ?? { sum: 0, pass: 0, count: 0 };
      m.sum += score;
      m.count += 1;
      if (!r.failedAssertions.includes(key)) m.pass += 1;
      metricAcc.set(key, m);
    }
  }
  const completed = passed + failed + errored;
  const wall = wallMs ?? (completed > 0 ? last - first : 0);
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
    notRun: Math.max(0, manifest.enqueued.valid - completed),
    passRate: completed === 0 ? 0 : round(passed / completed),
    metrics: Object.fromEntries(
      [...metricAcc].map(([k, m]) => [
        k,
        { mean: round(m.sum / m.count), passRate: round(m.pass / m.count), count: m.count },
      ]),
    ),
    latency: {
      queue: stats(lat.queue),
      retrieve: stats(lat.retrieve),
      generate: stats(lat.generate),
      total: stats(lat.total),
    },
    attempts,
    degraded,
    degradedReasons,
    tokens: { input: tokensIn, output: tokensOut },
    costUsd: Math.round(cost * 1_000_000) / 1_000_000,
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
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1]!;
}

function stats(values: number[]): LatencyStats {
  const mean = values.length === 0 ? 0 : values.reduce((a, b) => a + b, 0) / values.length;
  return {
    p50: round(percentile(values, 50)),
    p95: round(percentile(values, 95)),
    p99: round(percentile(values, 99)),
    mean: round(mean),
  };
}

function round(n: number): number {
  return Math.round(n * 10_000) / 10_000;
}
