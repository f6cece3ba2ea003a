import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';

import type { BatchApiOptions } from '../../shared/batch/batch-api.ts';
import type { BatchFallback, BatchRecord } from '../../shared/batch/batch-lane.ts';
import { QueueFullError, ValidationError } from '../../shared/errors.ts';
import type { JobState } from '../../shared/job-state.ts';
import { DEFAULT_PRICES, estimateCost, type PriceTable } from '../../shared/price-table.ts';
import { createRedisConnection, waitUntilReady } from '../../shared/redis.ts';
import type { RedisTarget } from '../../shared/redis-settings.ts';
import { DAY } from '../../shared/time.ts';
import { Admission, ADMISSION_DEFAULTS, estimateJobBytes } from '../admission.ts';
import { RunBatchLane } from './batch/run-batch-lane.ts';
import { cancelRun, type RunCancellation } from './cancel-run.ts';
import type { CaseResult } from './case-result.ts';
import { EvalFlow } from './eval-flow.ts';
import { type EvalCase, type InvalidCase, readCases } from './read-cases.ts';
import { writeReport } from './render-report.ts';
import { describeRun } from './reproducibility.ts';
import { RunFollower } from './run-follower.ts';
import {
  MAX_INVALID_KEPT,
  openLatestResults,
  openResultsWriter,
  readManifest,
  readResultIndex,
  recordRunDir,
  type Reproducibility,
  type ResultIndexEntry,
  runDir,
  type RunManifest,
  writeManifest,
} from './run-store.ts';
import { type RunSummary, summarize } from './summarize.ts';
import { expandCase, type NamedVariant } from './variants.ts';
import { writeResultsCsv } from './write-results-csv.ts';

/** Live figures for a progress bar. */
export interface EvalProgress {
  done: number;
  passed: number;
  failed: number;
  errored: number;
  /** Cases waiting for a retry right now. */
  retrying: number;
  /** Cases known so far (the total once the file is read). */
  total: number;
  /** p50 of the last 500 answers' total latency, ms. */
  p50Ms: number;
}

export interface EvalRunOptions {
  /** Where Redis is: settings from `redisSettingsFrom`, or a URL. */
  redis: RedisTarget;
  /** BullMQ key prefix. @defaultValue askq */
  prefix?: string;
  /**
   * `new` reads `file`; `resume` and `retry-errors` continue the run in `dir`; `follow` (`eval
   * status --follow`) only waits for the cases already enqueued and enqueues nothing.
   */
  mode: 'new' | 'resume' | 'retry-errors' | 'follow';
  /** The question file (mode `new`). */
  file?: string;
  /** The run's folder: `--out` for a new run (default `.askq/runs/<runId>`), the run's folder otherwise. */
  dir?: string;
  namespace?: string;
  topK?: number;
  /**
   * Let a fallback answer cases when a dependency is down (ASKQ_RETRIEVAL_FALLBACK,
   * ASKQ_CHAT_FALLBACK). Off: such a case is an error with the reason it would have degraded,
   * so a degraded answer is never scored as the model's. @defaultValue false
   */
  allowDegraded?: boolean;
  /** The grader model for judge and the RAG metrics (`--grader`). @defaultValue the workers' */
  grader?: string;
  /** Each case runs once per variant (`--variant`). @defaultValue none: once, as configured */
  variants?: NamedVariant[];
  /** Each case (and variant) runs this many times (`--repeat`). @defaultValue 1 */
  repeat?: number;
  /** Stop at the first invalid row, before enqueueing anything. @defaultValue false */
  strict?: boolean;
  /** Stop enqueueing once the estimated spend passes this (USD). @defaultValue no limit */
  maxCostUsd?: number;
  /** Enqueue, then return without following (`askq eval status` follows later). @defaultValue false */
  detach?: boolean;
  /** Recorded in run.json. */
  settings?: Partial<RunManifest['settings']>;
  /** Providers and grader as configured here, for run.json's reproducibility record. */
  configured?: Pick<Reproducibility, 'providers' | 'grader'>;
  /** Priority of the case jobs. @defaultValue 100 */
  priority?: number;
  /** Seconds finished case jobs stay in Redis. @defaultValue 7 days */
  keepSeconds?: number;
  /**
   * Most cases per addBulk. The first chunks are smaller (from {@link FIRST_CHUNK}, doubling),
   * so workers start answering while the rest of the file is enqueued. @defaultValue 500
   */
  chunkSize?: number;
  /** Most cases enqueued and unfinished at once, bounding memory and Redis for huge files. @defaultValue 20000 */
  maxPending?: number;
  /** Percent of Redis's maxmemory past which the run stops enqueueing ({@link QueueFullError}). @defaultValue 85 */
  highWaterPercent?: number;
  /** Prices over {@link DEFAULT_PRICES}. @defaultValue {} */
  prices?: PriceTable;
  /** For trace links in report.html. */
  jaegerUrl?: string;
  /**
   * Answer through the OpenAI Batch API (a new run; a resumed one keeps its lane). Unanswered
   * cases go to `fallback`. @defaultValue online
   */
  batch?: { fallback: BatchFallback };
  onInvalid?: (row: InvalidCase) => void;
  onProgress?: (progress: EvalProgress) => void;
  /**
   * Interrupts the run (Ctrl-C): enqueueing stops and, unless `detach`, the run's unfinished
   * cases are cancelled (a batch run's open batches too); the run resumes with `--resume`.
   * @defaultValue none
   */
  signal?: AbortSignal;
  /** The run's batches, whenever one changed (batch lane). */
  onBatches?: (records: BatchRecord[]) => void;
  /** Where the Batch API is, to cancel a batch run's open batches when interrupted. */
  batchApi?: BatchApiOptions;
}

/**
 * Cases in a run's first addBulk. Workers answer nothing until a chunk is in Redis, and a
 * `--with-worker` run's worker shares its thread with the enqueuer, so a first chunk of 500
 * held every answer back until its 500 jobs were built and written; a small one lets the first
 * answers wait on the model while later, larger chunks are built.
 */
const FIRST_CHUNK = 50;

export const EVAL_RUN_DEFAULTS = {
  prefix: 'askq',
  strict: false,
  detach: false,
  priority: 100,
  keepSeconds: (7 * DAY) / 1000,
  chunkSize: 500,
  maxPending: 20_000,
  highWaterPercent: ADMISSION_DEFAULTS.highWaterPercent,
  prices: {},
} satisfies Partial<EvalRunOptions>;

export interface EvalOutcome {
  runId: string;
  dir: string;
  /** Undefined for a detached or interrupted run. */
  summary?: RunSummary;
  /** Set when `signal` interrupted the run; `cancelled` unless it was detached. */
  interrupted?: { cancelled?: RunCancellation };
}

/**
 * Runs (or resumes) an evaluation: streams the question file, enqueues the cases as a BullMQ
 * flow in chunks, follows them, appends each result to results.jsonl as it lands, and writes
 * summary.json, results.csv and report.html at the end. Cases with a result on disk are never
 * enqueued again; cases that finished in Redis while nobody followed are recovered from there.
 * While Redis is past its high-water mark the run stops with {@link QueueFullError}; what it
 * enqueued stays part of the run, which `mode: 'resume'` continues.
 */
export async function runEval(options: EvalRunOptions): Promise<EvalOutcome> {
  const opts = { ...EVAL_RUN_DEFAULTS, ...options };
  const started = performance.now();
  const { manifest, dir } = await prepare(opts);
  const prices = { ...DEFAULT_PRICES, ...opts.prices };
  let spent = 0;
  const counts = { passed: 0, failed: 0, errored: 0 };
  function count(r: Pick<CaseResult, 'status'>) {
    counts[r.status === 'passed' ? 'passed' : r.status === 'failed' ? 'failed' : 'errored'] += 1;
  }
  // Ids and statuses of what finished before this run started (a resume), never the results;
  // read once, to skip those cases, and dropped once the file is read. A new run needs none:
  // a case finishes only after it was read, and the file's ids are unique.
  const done =
    opts.mode === 'new'
      ? new Map<string, ResultIndexEntry>()
      : await readResultIndex(dir, (r) => (spent += caseCost(prices, r)));
  for (const r of done.values()) if (opts.mode !== 'retry-errors' || r.status !== 'error') count(r);
  if (opts.strict) await assertAllValid(manifest.file);
  const variants = manifest.settings.variants ?? [];
  const repeat = manifest.settings.repeat ?? 1;

  const connection = createRedisConnection(opts.redis, 'producer');
  const eventsConnection = createRedisConnection(opts.redis, 'worker');
  const admission = new Admission(connection, { highWaterPercent: opts.highWaterPercent });
  let enqueued = 0;
  /**
   * Runs `write` (which enqueues through `admit`), turning a full Redis into a
   * {@link QueueFullError} that says how to resume the run.
   */
  const admitted = async (write: () => Promise<void>) => {
    try {
      await write();
    } catch (err) {
      const full = admission.fromRedisError(err);
      if (!(full instanceof QueueFullError)) throw err;
      throw new QueueFullError(
        `${full.message}; run ${manifest.runId} stopped after enqueueing ${enqueued} cases; ` +
          `continue it with: askq eval run --resume ${manifest.runId}`,
        { cause: full, retryAfterMs: full.retryAfterMs },
      );
    }
  };
  const following = opts.mode === 'follow';
  if (!following) {
    await waitUntilReady(connection);
    await admitted(() =>
      recordRunDir(connection, opts.prefix, manifest.runId, dir, opts.keepSeconds),
    );
  }
  const lane = RunBatchLane.of({
    manifest,
    dir,
    connection,
    prefix: opts.prefix,
    keepSeconds: opts.keepSeconds,
    ...(opts.onBatches ? { onBatches: opts.onBatches } : {}),
  });
  const maxPending = lane?.maxPending(opts.maxPending) ?? opts.maxPending;
  const flow = new EvalFlow({
    connection,
    prefix: opts.prefix,
    runId: manifest.runId,
    priority: opts.priority,
    keepSeconds: opts.keepSeconds,
    ...(manifest.settings.namespace ? { namespace: manifest.settings.namespace } : {}),
    ...(manifest.settings.topK ? { topK: manifest.settings.topK } : {}),
    // A resumed run keeps what it was started with, or takes the flag given now.
    ...(opts.allowDegraded || manifest.settings.allowDegraded ? { allowDegraded: true } : {}),
    ...(manifest.settings.grader ? { grader: manifest.settings.grader } : {}),
    ...(lane ? { lane: lane.flowLane } : {}),
  });
  const writer = await openResultsWriter(dir);
  const retrying = new Set<string>();
  const recent: number[] = [];
  let known = 0;
  const progress = () =>
    opts.onProgress?.({
      done: counts.passed + counts.failed + counts.errored,
      ...counts,
      retrying: retrying.size,
      total: known,
      p50Ms: median(recent),
    });
  const follower = new RunFollower({
    connection,
    eventsConnection,
    prefix: opts.prefix,
    ...(lane ? { queueName: lane.queueName } : {}),
    onRetry: (id) => {
      // A batch-lane case is delayed to wait for its batch, not to retry.
      if (lane) return;
      retrying.add(id);
      progress();
    },
    onResults: async (batch) => {
      for (const r of batch) {
        retrying.delete(r.id);
        count(r);
        spent += caseCost(prices, r);
        if (r.status !== 'error') recent.push(r.timings.totalMs);
      }
      if (recent.length > 500) recent.splice(0, recent.length - 500);
      await writer.append(batch);
      progress();
    },
  });

  const aborted = whenAborted(opts.signal);
  const interrupt = async (): Promise<EvalOutcome> => {
    await writeManifest(dir, manifest);
    const cancelled = opts.detach
      ? undefined
      : await cancelRun({
          connection,
          prefix: opts.prefix,
          runId: manifest.runId,
          keepSeconds: opts.keepSeconds,
          ...(opts.batchApi ? { batchApi: opts.batchApi } : {}),
        });
    return { runId: manifest.runId, dir, interrupted: cancelled ? { cancelled } : {} };
  };

  try {
    // Resuming a cancelled run runs it again (before following: see forgetCancellation).
    if (opts.mode === 'resume' || opts.mode === 'retry-errors') {
      await waitUntilReady(connection);
      await flow.forgetCancellation();
      await lane?.forgetCancellation();
    }
    if (!opts.detach) await follower.start();
    if (!following) await lane?.open();
    if (!following) {
      await admitted(async () => {
        await admission.admit();
        await flow.open({ runId: manifest.runId, file: manifest.file, dir });
      });
    }
    let stopped = false;
    let batch: EvalCase[] = [];
    let carried = new Map<string, JobState>();
    let valid = 0;
    let invalid = 0;
    let chunkSize = Math.min(FIRST_CHUNK, opts.chunkSize);
    const flush = async () => {
      if (batch.length === 0) return;
      chunkSize = Math.min(chunkSize * 2, opts.chunkSize);
      const cases = batch;
      const states = carried;
      batch = [];
      carried = new Map();
      const ids = cases.map((c) => flow.jobIdOf(c.id));
      // `askq eval cancel` from elsewhere: stop adding cases.
      if (!following && (await flow.isCancelled())) {
        stopped = true;
        return;
      }
      if (!opts.detach) follower.track(ids, cases);
      if (following) {
        // Cases whose job is gone (never enqueued, or past retention) will not finish: not run.
        follower.untrack(await follower.reconcile(500, ids));
        // The rest are in Redis now: one that vanishes later was removed by `askq eval cancel`
        // and will not finish either (a resume runs it), so following must not wait for it.
        follower.markAdded(ids);
        return;
      }
      // In slices as large as the high-water check allows (small close to the mark).
      const jobBytes = estimateJobBytes(cases);
      await admitted(async () => {
        for (let i = 0; i < cases.length;) {
          const end = i + (await admission.admit(jobBytes, cases.length - i));
          await flow.add(cases.slice(i, end), states);
          enqueued += end - i;
          i = end;
        }
      });
      if (!opts.detach) follower.markAdded(ids);
      // A resumed case may have finished while nobody listened: its add was a no-op.
      if (opts.mode !== 'new' && !opts.detach) await follower.reconcile(500, ids);
      if (!opts.detach && follower.size >= maxPending) {
        await Promise.race([follower.waitBelow(Math.floor(maxPending / 2)), aborted]);
      }
    };
    for await (const item of readCases(manifest.file)) {
      if (opts.signal?.aborted || stopped) break;
      if ('invalid' in item) {
        invalid += 1;
        if (manifest.invalidRows.length < MAX_INVALID_KEPT) manifest.invalidRows.push(item.invalid);
        opts.onInvalid?.(item.invalid);
        continue;
      }
      valid += 1;
      for (const c of expandCase(item.case, variants, repeat)) {
        const previous = done.get(c.id);
        if (previous && !(opts.mode === 'retry-errors' && previous.status === 'error')) continue;
        if (opts.maxCostUsd !== undefined && spent >= opts.maxCostUsd) {
          manifest.enqueued.stoppedBy = 'max-cost';
          continue;
        }
        if (previous) {
          const state = await flow.forget(c.id);
          if (state) carried.set(c.id, state);
          await lane?.forget(flow.jobIdOf(c.id));
        }
        known += 1;
        batch.push(c);
        if (batch.length >= chunkSize) await flush();
      }
    }
    done.clear();
    if (!opts.signal?.aborted) await flush();
    if (opts.signal?.aborted) return await interrupt();
    known = valid * Math.max(1, variants.length) * repeat;
    if (!following) {
      manifest.enqueued = { ...manifest.enqueued, valid, invalid, complete: !stopped };
      await writeManifest(dir, manifest);
      await flow.release();
    }
    progress();
    if (opts.detach) return { runId: manifest.runId, dir };
    // Only now: run.json has no other writer until the end.
    lane?.follow();

    await Promise.race([follower.waitBelow(0), aborted]);
    if (opts.signal?.aborted) return await interrupt();
    await writer.close();
    await lane?.stop();
    const results = await openLatestResults(dir);
    const summary = await summarize(
      manifest,
      results(),
      opts.prices,
      opts.mode === 'new' ? performance.now() - started : undefined,
    );
    await writeOutputs(dir, summary, results, opts.jaegerUrl);
    await flow.finish();
    return { runId: manifest.runId, dir, summary };
  } finally {
    await lane?.stop().catch(() => {});
    await follower.close().catch(() => {});
    await writer.close().catch(() => {});
    await flow.close().catch(() => {});
    eventsConnection.disconnect();
    await connection.quit().catch(() => connection.disconnect());
  }
}

/** summary.json, results.csv and report.html, streamed from the run's results.jsonl. */
export async function writeOutputs(
  dir: string,
  summary: RunSummary,
  results: () => AsyncIterable<CaseResult>,
  jaegerUrl?: string,
): Promise<void> {
  await writeFile(join(dir, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
  await writeResultsCsv(join(dir, 'results.csv'), results(), Object.keys(summary.metrics));
  await writeReport(join(dir, 'report.html'), summary, results, jaegerUrl ? { jaegerUrl } : {});
}

/** Rebuilds summary.json, results.csv and report.html of a run from its folder. */
export async function rebuildReport(
  dir: string,
  options: { prices?: PriceTable; jaegerUrl?: string } = {},
): Promise<RunSummary> {
  const manifest = await readManifest(dir);
  const results = await openLatestResults(dir);
  const summary = await summarize(manifest, results(), options.prices ?? {});
  await writeOutputs(dir, summary, results, options.jaegerUrl);
  return summary;
}

async function prepare(
  opts: EvalRunOptions & { prefix: string; strict: boolean; priority: number },
): Promise<{ manifest: RunManifest; dir: string }> {
  if (opts.mode !== 'new') {
    if (!opts.dir) throw new ValidationError('a run folder is required to resume');
    return { manifest: await readManifest(opts.dir), dir: opts.dir };
  }
  if (!opts.file) throw new ValidationError('a question file is required');
  const runId = newRunId();
  const dir = opts.dir ?? runDir(runId);
  const manifest: RunManifest = {
    runId,
    file: resolve(opts.file),
    createdAt: new Date().toISOString(),
    prefix: opts.prefix,
    settings: {
      withWorker: false,
      strict: opts.strict,
      priority: opts.priority,
      ...(opts.namespace ? { namespace: opts.namespace } : {}),
      ...(opts.topK ? { topK: opts.topK } : {}),
      ...(opts.grader ? { grader: opts.grader } : {}),
      ...(opts.variants?.length ? { variants: opts.variants } : {}),
      ...(opts.repeat && opts.repeat > 1 ? { repeat: opts.repeat } : {}),
      runsPerCase: Math.max(1, opts.variants?.length ?? 0) * (opts.repeat ?? 1),
      ...(opts.maxCostUsd === undefined ? {} : { maxCostUsd: opts.maxCostUsd }),
      ...(opts.batch ? { mode: 'batch' as const, batchFallback: opts.batch.fallback } : {}),
      ...(opts.allowDegraded ? { allowDegraded: true } : {}),
      ...opts.settings,
    },
    reproducibility: await describeRun(opts.file, {
      providers: opts.configured?.providers ?? { chat: '', embeddings: '', vectorStore: '' },
      grader: opts.grader ?? opts.configured?.grader ?? null,
      variants: opts.variants ?? [],
      repeat: opts.repeat ?? 1,
    }),
    enqueued: { valid: 0, invalid: 0, complete: false },
    invalidRows: [],
  };
  await writeManifest(dir, manifest);
  return { manifest, dir };
}

async function assertAllValid(file: string): Promise<void> {
  for await (const item of readCases(file)) {
    if ('invalid' in item) {
      const { where, id, reason } = item.invalid;
      throw new ValidationError(`${file} ${where}${id ? ` (id ${id})` : ''}: ${reason} (--strict)`);
    }
  }
}

/** A sortable, readable run id: `20250102-130405-a1b2c3`. */
export function newRunId(now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `${stamp}-${randomBytes(3).toString('hex')}`;
}

/** Resolves when `signal` aborts; never without one. */
function whenAborted(signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) resolve();
    else signal?.addEventListener('abort', () => resolve(), { once: true });
  });
}

/** What a case cost, answering and grading, in USD (unpriced models count 0). */
function caseCost(prices: PriceTable, r: CaseResult): number {
  const grading = r.graderUsage
    ? (estimateCost(prices, r.graderModel ?? '', r.graderUsage) ?? 0)
    : 0;
  // A batch's answer costs the batch price; grading always runs online.
  const lane = r.batchId ? 'batch' : 'online';
  return (estimateCost(prices, r.model, r.usage, lane) ?? 0) + grading;
}

function median(values: number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)]!;
}
