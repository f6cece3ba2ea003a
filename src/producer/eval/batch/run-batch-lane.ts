import {
  BATCH_API_LIMITS,
  BATCH_JOBS,
  type BatchRecord,
  EVAL_BATCH_QUEUE,
} from '../../../shared/batch/batch-lane.ts';
import { BatchStore } from '../../../shared/batch/batch-store.ts';
import { type Redis, waitUntilReady } from '../../../shared/redis.ts';
import { type RunManifest, writeManifest } from '../run-store.ts';
import { BatchMirror } from './batch-mirror.ts';

export interface RunBatchLaneOptions {
  manifest: RunManifest;
  /** The run's folder (run.json gets the batches). */
  dir: string;
  connection: Redis;
  prefix: string;
  keepSeconds: number;
  onBatches?: (records: BatchRecord[]) => void;
}

/**
 * A batch-lane run as the producer handles it: its cases go to the `eval-batch` queue as
 * `case` jobs, its lane settings are in Redis before the first case, and its batches are
 * mirrored into run.json while the run is followed. The workers do the rest.
 */
export class RunBatchLane {
  /** Where the run's cases go (EvalFlow's `lane`). */
  readonly flowLane: { queue: string; jobName: string; data: Record<string, unknown> };
  /** The queue the follower listens to. */
  readonly queueName = EVAL_BATCH_QUEUE;
  private readonly store: BatchStore;
  private readonly mirror: BatchMirror;
  private readonly opts: RunBatchLaneOptions;

  private constructor(opts: RunBatchLaneOptions) {
    this.opts = opts;
    const { manifest } = opts;
    this.flowLane = {
      queue: EVAL_BATCH_QUEUE,
      jobName: BATCH_JOBS.case,
      data: { runId: manifest.runId },
    };
    this.store = new BatchStore(opts.connection, opts.prefix, manifest.runId, opts.keepSeconds);
    this.mirror = new BatchMirror({
      store: this.store,
      onChange: async (records) => {
        manifest.batches = records;
        await writeManifest(opts.dir, manifest);
        opts.onBatches?.(records);
      },
    });
  }

  /** The lane of a run whose run.json says `mode: batch`; undefined for an online run. */
  static of(opts: RunBatchLaneOptions): RunBatchLane | undefined {
    return opts.manifest.settings.mode === 'batch' ? new RunBatchLane(opts) : undefined;
  }

  /**
   * Cases followed at once. A batch answers nothing for hours: a bound below a full batch
   * file would split the run into batches one after another instead of side by side.
   */
  maxPending(online: number): number {
    return Math.max(online, 2 * BATCH_API_LIMITS.maxRequests);
  }

  /** Saves the lane's settings (once) before any case is added: the workers read them. */
  async open(): Promise<void> {
    await waitUntilReady(this.opts.connection);
    if (await this.store.meta()) return;
    const { settings, createdAt } = this.opts.manifest;
    await this.store.saveMeta({
      fallback: settings.batchFallback ?? 'batch',
      createdAt: Date.parse(createdAt),
    });
  }

  /** Before a resume: a cancelled run's batch lane submits batches again. */
  forgetCancellation(): Promise<void> {
    return this.store.forgetCancellation();
  }

  /** Forgets a case's outcome so it runs again (`--retry-errors`). */
  forget(jobId: string): Promise<void> {
    return this.store.forget(jobId);
  }

  /** Starts mirroring the batches into run.json (once nothing else writes it). */
  follow(): void {
    this.mirror.start();
  }

  /** Stops mirroring after a last read. */
  stop(): Promise<void> {
    return this.mirror.stop();
  }
}
