import { existsSync } from 'node:fs';
import { join } from 'node:path';

import { latestResults, readManifest, readRunCounts } from '../producer/eval/index.ts';
import type { BatchRecord } from '../shared/batch/batch-lane.ts';
import { BatchStore } from '../shared/batch/batch-store.ts';
import type { Config } from '../shared/config.ts';
import { createRedisConnection, waitUntilReady } from '../shared/redis.ts';
import { redisSettingsFrom } from '../shared/redis-settings.ts';
import { EXIT, type ExitCode } from './exit-codes.ts';
import { findRun } from './find-run.ts';
import { formatBatches } from './format-batches.ts';

/** Where a run stands, as `askq eval status <run>` prints it. */
export interface RunStatus {
  runId: string;
  dir: string;
  /**
   * `finished`: every case has a result and the outputs are written; `running`: cases are
   * enqueued and not all finished; `stopped`: nothing is in the queue for it and it did not
   * finish (resume it with `askq eval run --resume`).
   */
  state: 'finished' | 'running' | 'stopped';
  /** Valid cases in the question file (known once enqueueing ended). */
  cases: number;
  enqueueComplete: boolean;
  /** Results on disk. */
  passed: number;
  failed: number;
  errored: number;
  /** Case jobs of the run not finished in Redis. */
  pending: number;
  /** The run's batches (batch lane): status, request counts, when submitted. */
  batches?: BatchRecord[];
}

/**
 * `askq eval status <run>`: the run's counts and state, at once. Reads the run's folder and
 * its parent job's dependency counts; enqueues nothing.
 */
export async function runEvalStatus(
  config: Config,
  run: string,
  options: { json?: boolean },
): Promise<ExitCode> {
  const status = await readRunStatus(config, await findRun(config, run));
  process.stdout.write(
    options.json ? `${JSON.stringify(status, null, 2)}\n` : `${formatRunStatus(status)}\n`,
  );
  return EXIT.ok;
}

async function readRunStatus(config: Config, dir: string): Promise<RunStatus> {
  const manifest = await readManifest(dir);
  // Streamed: the counts of a 100,000-case run, not its results, are what stays in memory.
  const counts = { passed: 0, failed: 0, errored: 0 };
  for await (const r of latestResults(dir))
    counts[r.status === 'passed' ? 'passed' : r.status === 'failed' ? 'failed' : 'errored'] += 1;

  const connection = createRedisConnection(redisSettingsFrom(config), 'producer');
  let inQueue: Awaited<ReturnType<typeof readRunCounts>>;
  let batches: BatchRecord[] | undefined;
  try {
    await waitUntilReady(connection);
    inQueue = await readRunCounts(connection, manifest.prefix, manifest.runId);
    if (manifest.settings.mode === 'batch') {
      const store = new BatchStore(
        connection,
        manifest.prefix,
        manifest.runId,
        config.ASKQ_KEEP_SECONDS,
      );
      // Redis is the truth while the run is kept there; run.json's mirror after that.
      const live = await store.records();
      batches = live.length > 0 ? live : (manifest.batches ?? []);
    }
  } finally {
    connection.disconnect();
  }
  const done = counts.passed + counts.failed + counts.errored;
  const finished =
    manifest.enqueued.complete &&
    done >= manifest.enqueued.valid &&
    existsSync(join(dir, 'summary.json'));
  return {
    runId: manifest.runId,
    dir,
    state: finished ? 'finished' : inQueue ? 'running' : 'stopped',
    cases: manifest.enqueued.valid,
    enqueueComplete: manifest.enqueued.complete,
    ...counts,
    pending: inQueue?.pending ?? 0,
    ...(batches ? { batches } : {}),
  };
}

/** One or two lines for a terminal. */
export function formatRunStatus(s: RunStatus): string {
  const done = s.passed + s.failed + s.errored;
  const lines = [
    `run ${s.runId}: ${s.state} · ${done}/${s.cases}${s.enqueueComplete ? '' : '+'} cases have results ` +
      `(${s.passed} passed, ${s.failed} failed, ${s.errored} errors) · ${s.pending} waiting in the queue · ${s.dir}`,
  ];
  if (s.batches && s.batches.length > 0) lines.push(formatBatches(s.batches));
  if (s.state === 'running')
    lines.push(
      `follow it: askq eval status ${s.runId} --follow (add --with-worker to answer here)`,
    );
  if (s.state === 'stopped') lines.push(`resume it: askq eval run --resume ${s.runId}`);
  return lines.join('\n');
}
