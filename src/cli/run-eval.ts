import {
  addVariant,
  assertCanBatch,
  type EvalOutcome,
  type EvalRunOptions,
  isReportedOnly,
  latestResults,
  type NamedVariant,
  runDir,
  runEval,
  type RunSummary,
  writeJunit,
} from '../producer/eval/index.ts';
import type { Config } from '../shared/config.ts';
import { QUESTIONS_QUEUE } from '../shared/contracts.ts';
import { coerceError, ValidationError } from '../shared/errors.ts';
import { redisSettingsFrom } from '../shared/redis-settings.ts';
import { createEvalProgress } from './eval-progress.ts';
import { EXIT, type ExitCode } from './exit-codes.ts';
import { findRun } from './find-run.ts';
import { formatBatches } from './format-batches.ts';
import { startInProcessWorker } from './in-process-worker.ts';
import { warnWhileNoWorker } from './no-worker-warning.ts';
import { batchApiOf, formatCancellation } from './run-eval-cancel.ts';

export interface RunEvalOptions {
  out?: string;
  withWorker?: boolean;
  concurrency?: number;
  detach?: boolean;
  resume?: string;
  retryErrors?: string;
  failUnder?: number;
  maxCost?: number;
  strict?: boolean;
  namespace?: string;
  topK?: number;
  allowDegraded?: boolean;
  grader?: string;
  /** `--variant name:json` as given, checked by the command. */
  variant?: string[];
  repeat?: number;
  junit?: string;
  json?: boolean;
  /** `eval status`: wait and render progress until the run ends. */
  follow?: boolean;
  batch?: boolean;
  online?: boolean;
  batchFallback?: 'batch' | 'online';
}

/**
 * `askq eval run <file>` (and `--resume`, `--retry-errors`), `askq eval status <run> --follow`:
 * runs or follows an evaluation, prints its summary, and returns the exit code: 0 for a run
 * that finished (whatever its cases scored), 1 when the pass rate is below `--fail-under`.
 * Contradictory flags throw a ValidationError (exit code 2), checked before `connect` is called
 * for the configuration (which stops with exit code 3 when Redis does not answer).
 */
export async function runEvalCommand(
  connect: () => Promise<Config>,
  file: string | undefined,
  options: RunEvalOptions,
  command: 'run' | 'status' = 'run',
): Promise<ExitCode> {
  const sources = [file, options.resume, options.retryErrors].filter((v) => v !== undefined);
  if (command === 'run' && sources.length !== 1) {
    throw new ValidationError(
      'give exactly one of <file>, --resume <runId>, --retry-errors <runId>',
    );
  }
  if (options.concurrency !== undefined && !options.withWorker) {
    throw new ValidationError('--concurrency needs --with-worker (it sizes the in-process worker)');
  }
  if (options.detach && options.withWorker) {
    throw new ValidationError(
      '--detach and --with-worker exclude each other: a detached run needs deployed workers',
    );
  }
  if ((options.variant || options.repeat) && command === 'run' && !file) {
    throw new ValidationError(
      '--variant and --repeat apply to a new run; a resumed run keeps its own',
    );
  }
  if (options.detach && options.failUnder !== undefined) {
    throw new ValidationError(
      '--fail-under needs the run to finish; use it with `askq eval status` for a detached run',
    );
  }
  if (command === 'status' && !options.follow && (options.withWorker || options.failUnder))
    throw new ValidationError('--with-worker and --fail-under need --follow');
  if (options.batch && options.online) {
    throw new ValidationError('--batch and --online exclude each other');
  }
  const variants = (options.variant ?? []).reduce<NamedVariant[]>((previous, value) => {
    try {
      return addVariant(value, previous);
    } catch (err) {
      throw new ValidationError(`--variant: ${coerceError(err).message}`, { cause: err });
    }
  }, []);
  const config = await connect();
  const mode: EvalRunOptions['mode'] =
    command === 'status'
      ? 'follow'
      : options.resume
        ? 'resume'
        : options.retryErrors
          ? 'retry-errors'
          : 'new';
  const dir =
    mode === 'new'
      ? options.out
        ? runDir('', options.out)
        : undefined
      : await findRun(
          config,
          (command === 'status' ? file : (options.resume ?? options.retryErrors))!,
        );

  const batch =
    mode === 'new' && (options.batch || (config.ASKQ_EVAL_MODE === 'batch' && !options.online));
  // Before anything is enqueued: a provider that cannot batch stops the run here.
  if (batch) await assertCanBatch(config);

  const worker = options.withWorker
    ? await startInProcessWorker(
        // The in-process worker is this run's: the grader asked for is the one it has.
        options.grader ? { ...config, ASKQ_GRADER_MODEL: options.grader } : config,
        { ...(options.concurrency ? { concurrency: options.concurrency } : {}) },
      )
    : undefined;
  const stopWarning =
    worker || options.detach
      ? undefined
      : warnWhileNoWorker({
          redis: redisSettingsFrom(config),
          prefix: config.ASKQ_PREFIX,
          queueName: QUESTIONS_QUEUE,
        });
  const bar = createEvalProgress(process.stderr, { plain: mode === 'follow' });
  let summary: RunSummary | undefined;
  let interrupted: EvalOutcome['interrupted'];
  let runId: string;
  let outDir: string;
  // Ctrl-C on `eval run` stops the run (and cancels its cases unless detached); a second one
  // kills at once. `eval status` only follows: Ctrl-C leaves the run alone.
  const interrupt = new AbortController();
  const onSigint = () => interrupt.abort();
  if (command === 'run') process.once('SIGINT', onSigint);
  try {
    const outcome = await runEval({
      redis: redisSettingsFrom(config),
      prefix: config.ASKQ_PREFIX,
      mode,
      ...(file && mode === 'new' ? { file } : {}),
      ...(dir ? { dir } : {}),
      ...(options.namespace ? { namespace: options.namespace } : {}),
      ...(options.topK ? { topK: options.topK } : {}),
      ...(options.allowDegraded ? { allowDegraded: true } : {}),
      ...(options.grader ? { grader: options.grader } : {}),
      ...(variants.length > 0 ? { variants } : {}),
      ...(options.repeat ? { repeat: options.repeat } : {}),
      strict: options.strict ?? false,
      ...(options.maxCost === undefined ? {} : { maxCostUsd: options.maxCost }),
      detach: options.detach ?? false,
      settings: {
        withWorker: options.withWorker ?? false,
        ...(options.concurrency ? { concurrency: options.concurrency } : {}),
        ...(options.failUnder === undefined ? {} : { failUnder: options.failUnder }),
      },
      configured: {
        providers: {
          chat: `${config.ASKQ_LLM}:${config.ASKQ_LLM === 'openai' ? config.ASKQ_CHAT_MODEL : 'extractive-v1'}`,
          embeddings: `${config.ASKQ_EMBEDDINGS}:${config.ASKQ_EMBEDDINGS === 'openai' ? config.ASKQ_EMBEDDING_MODEL : 'hashing-v1'}`,
          vectorStore: `${config.ASKQ_VECTOR_STORE}:${config.ASKQ_VECTOR_STORE === 'pinecone' ? (config.PINECONE_INDEX ?? '') : config.ASKQ_LOCAL_STORE_DIR}`,
        },
        grader: config.ASKQ_GRADER_MODEL ?? null,
      },
      priority: config.ASKQ_EVAL_PRIORITY,
      keepSeconds: config.ASKQ_KEEP_SECONDS,
      highWaterPercent: config.ASKQ_REDIS_HIGH_WATER,
      prices: config.ASKQ_EVAL_PRICES,
      ...(config.ASKQ_JAEGER_URL ? { jaegerUrl: config.ASKQ_JAEGER_URL } : {}),
      onInvalid: (row) =>
        process.stderr.write(
          `invalid row at ${row.where}${row.id ? ` (id ${row.id})` : ''}: ${row.reason}\n`,
        ),
      onProgress: (p) => bar.update(p),
      signal: interrupt.signal,
      ...(batch ? { batch: { fallback: options.batchFallback ?? 'batch' } } : {}),
      onBatches: (records) => process.stderr.write(`${formatBatches(records)}\n`),
      batchApi: batchApiOf(config),
    });
    summary = outcome.summary;
    interrupted = outcome.interrupted;
    runId = outcome.runId;
    outDir = outcome.dir;
  } finally {
    bar.stop();
    await stopWarning?.();
    await worker?.close(config.ASKQ_SHUTDOWN_GRACE_MS);
    process.off('SIGINT', onSigint);
  }

  if (interrupted) {
    const { cancelled } = interrupted;
    process.stderr.write(
      cancelled
        ? `interrupted: ${formatCancellation(cancelled)}\n`
        : `interrupted: run ${runId} stopped enqueueing; what was enqueued keeps running; ` +
            `resume with: askq eval run --resume ${runId}\n`,
    );
    return EXIT.interrupted;
  }

  if (!summary) {
    process.stdout.write(
      options.json
        ? `${JSON.stringify({ runId, dir: outDir, detached: true })}\n`
        : `run ${runId} enqueued (${outDir}); follow it with: askq eval status ${runId}\n`,
    );
    return EXIT.ok;
  }
  if (options.junit) await writeJunit(options.junit, summary, latestResults(outDir));
  process.stdout.write(
    options.json ? `${JSON.stringify(summary, null, 2)}\n` : `${formatSummary(summary, outDir)}\n`,
  );
  if (options.failUnder !== undefined && summary.passRate < options.failUnder) {
    process.stderr.write(
      `pass rate ${(summary.passRate * 100).toFixed(1)}% is below --fail-under ${(options.failUnder * 100).toFixed(1)}%\n`,
    );
    return EXIT.failed;
  }
  return EXIT.ok;
}

/** The summary as a few lines for a terminal. */
export function formatSummary(s: RunSummary, dir: string): string {
  const metrics = Object.entries(s.metrics)
    .map(([k, m]) =>
      isReportedOnly(k, m)
        ? `${k} mean ${m.mean.toFixed(2)}`
        : `${k} ${(m.passRate * 100).toFixed(0)}% (mean ${m.mean.toFixed(2)})`,
    )
    .join(', ');
  return [
    `run ${s.runId}: ${s.passed} passed, ${s.failed} failed, ${s.errored} errors of ${s.valid} cases` +
      (s.valid > 0 && s.completed + s.notRun > s.valid
        ? ` × ${(s.completed + s.notRun) / s.valid} runs`
        : '') +
      ` (${s.invalid} invalid rows${s.notRun ? `, ${s.notRun} not run` : ''}${s.stoppedBy ? ', stopped by --max-cost' : ''})`,
    `pass rate ${(s.passRate * 100).toFixed(1)}%${metrics ? ` · ${metrics}` : ''}`,
    `latency p50 ${Math.round(s.latency.total.p50)} ms, p95 ${Math.round(s.latency.total.p95)} ms · ` +
      `tokens ${s.tokens.input} in / ${s.tokens.output} out · est. $${s.costUsd.toFixed(4)} · ` +
      `${s.wallSeconds.toFixed(1)} s wall, ${s.throughput.toFixed(1)} cases/s`,
    ...(s.grader.models.length > 0
      ? [
          `grader ${s.grader.models.join(', ')}: tokens ${s.grader.tokens.input} in / ${s.grader.tokens.output} out · est. $${s.grader.costUsd.toFixed(4)}`,
        ]
      : []),
    ...Object.entries(s.errorReasons)
      .slice(0, 3)
      .map(([reason, n]) => `errors: ${n} × ${reason}`),
    ...Object.entries(s.variants ?? {}).map(
      ([name, v]) =>
        `  ${name.padEnd(12)} pass ${(v.passRate.value * 100).toFixed(1)}% [${(v.passRate.low * 100).toFixed(1)}, ${(v.passRate.high * 100).toFixed(1)}]` +
        Object.entries(v.metrics)
          .map(
            ([k, m]) =>
              ` · ${k} ${m.mean.value.toFixed(2)} [${m.mean.low.toFixed(2)}, ${m.mean.high.toFixed(2)}]`,
          )
          .join('') +
        (v.repeatSpread
          ? ` · repeats disagree on ${v.repeatSpread.flakyCases} cases (mean sd ${v.repeatSpread.meanStdDev.toFixed(2)})`
          : ''),
    ),
    ...(s.batch
      ? [
          `${s.batch.answered} answered through the Batch API · the same run online: est. $${s.batch.onlineCostUsd.toFixed(4)}`,
        ]
      : []),
    `results: ${dir}/results.jsonl · report: ${dir}/report.html`,
  ].join('\n');
}
