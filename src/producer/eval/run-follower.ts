import { QueueEvents } from 'bullmq';

import { type AnswerResult, QUESTIONS_QUEUE } from '../../shared/contracts.ts';
import type { Redis } from '../../shared/redis.ts';
import { CANCELLED_REASON } from '../../shared/tenancy/cancel-channel.ts';
import { SECOND } from '../../shared/time.ts';
import { type CaseResult, completedResult, erroredResult } from './case-result.ts';
import type { EvalCase } from './read-cases.ts';

export interface RunFollowerOptions {
  /** A connection for commands (HMGET of job hashes). */
  connection: Redis;
  /** A connection of its own for the blocking event stream read. */
  eventsConnection: Redis;
  prefix: string;
  /** The queue the run's cases are in. @defaultValue the questions queue */
  queueName?: string;
  /** Receives finished cases, in batches, in completion order. */
  onResults: (results: CaseResult[]) => void | Promise<void>;
  /** A case went to delayed (a retry is scheduled). */
  onRetry?: (caseId: string) => void;
  /**
   * With no finish event of this run's cases for this long, job hashes are read directly:
   * events are a trimmed stream and a job may have finished while nobody listened.
   * @defaultValue 2000
   */
  reconcileAfterMs?: number;
}

export const RUN_FOLLOWER_DEFAULTS = {
  reconcileAfterMs: 2 * SECOND,
  queueName: QUESTIONS_QUEUE,
} satisfies Partial<RunFollowerOptions>;

const FIELDS = ['finishedOn', 'returnvalue', 'failedReason', 'attemptsMade', 'timestamp'] as const;

/**
 * Follows a run's case jobs to the end. Live through QueueEvents (completed and failed carry
 * the return value and reason, so a result costs no extra read), and by reading the job hashes
 * in batches at the start and whenever events go quiet: what finished while the CLI was down
 * (or was trimmed from the event stream) is recovered from Redis, never asked again.
 */
export class RunFollower {
  readonly #pending = new Map<string, EvalCase>();
  /** Followed jobs known to be in Redis: one of these found missing was removed (cancelled). */
  readonly #added = new Set<string>();
  readonly #events: QueueEvents;
  readonly #opts: RunFollowerOptions & typeof RUN_FOLLOWER_DEFAULTS;
  #buffer: CaseResult[] = [];
  #flushing: Promise<void> = Promise.resolve();
  #idleWaiters: (() => void)[] = [];
  #lastEventAt = Date.now();
  #timer: NodeJS.Timeout | undefined;
  #reconciling = false;

  constructor(options: RunFollowerOptions) {
    this.#opts = { ...RUN_FOLLOWER_DEFAULTS, ...options };
    this.#events = new QueueEvents(this.#opts.queueName, {
      connection: options.eventsConnection,
      prefix: options.prefix,
      autorun: false,
    });
    this.#events.on('error', () => {});
    this.#events.on('completed', ({ jobId, returnvalue }) => {
      const c = this.#take(jobId);
      if (c) this.#push(completedResult(c, jobId, returnvalue as unknown as AnswerResult));
    });
    this.#events.on('failed', ({ jobId, failedReason }) => {
      const c = this.#take(jobId);
      // A cancelled case has no result: it stays to be run by a resume.
      if (c && failedReason !== CANCELLED_REASON) this.#push(erroredResult(c, jobId, failedReason));
      else if (c) this.#wakeWaiters();
    });
    this.#events.on('delayed', ({ jobId }) => {
      const c = this.#pending.get(jobId);
      if (c) this.#opts.onRetry?.(c.id);
    });
  }

  /** Starts listening (from now on); call before adding jobs so no event is missed. */
  async start(): Promise<void> {
    void this.#events.run().catch(() => {});
    await this.#events.waitUntilReady();
    this.#timer = setInterval(() => {
      if (Date.now() - this.#lastEventAt >= this.#opts.reconcileAfterMs) void this.reconcile();
    }, this.#opts.reconcileAfterMs / 2);
  }

  /** Cases being followed (enqueued, not finished). */
  get size(): number {
    return this.#pending.size;
  }

  /** Follows these jobs (job id → case). */
  track(jobIds: string[], cases: EvalCase[]): void {
    jobIds.forEach((id, i) => this.#pending.set(id, cases[i]!));
  }

  /** Stops following these jobs (they will never finish: their job does not exist). */
  untrack(jobIds: string[]): void {
    for (const id of jobIds) this.#pending.delete(id);
    if (this.#pending.size === 0) this.#wakeWaiters();
  }

  /** These followed jobs are in Redis now: if they vanish, they were cancelled. */
  markAdded(jobIds: string[]): void {
    for (const id of jobIds) if (this.#pending.has(id)) this.#added.add(id);
  }

  /**
   * Reads the hashes of every followed job, in pipelined batches, and finishes those that
   * ended (`only`: just these). Returns the ids of followed jobs that do not exist (never added, or removed).
   */
  async reconcile(batchSize = 500, only?: string[]): Promise<string[]> {
    if (this.#reconciling && !only) return [];
    this.#reconciling = true;
    const missing: string[] = [];
    try {
      const ids = only ?? [...this.#pending.keys()];
      for (let i = 0; i < ids.length; i += batchSize) {
        const batch = ids.slice(i, i + batchSize);
        const pipeline = this.#opts.connection.pipeline();
        for (const id of batch) pipeline.hmget(this.#jobKey(id), ...FIELDS);
        const replies = (await pipeline.exec()) ?? [];
        batch.forEach((id, j) => {
          const [err, values] = replies[j] ?? [];
          if (err || !Array.isArray(values)) return;
          const [finishedOn, returnvalue, failedReason, attemptsMade, timestamp] = values as (
            string | null
          )[];
          if (values.every((v) => v === null)) {
            missing.push(id);
            // Removed after it was added (`askq eval cancel`): no result, a resume runs it.
            if (!only && this.#added.has(id) && this.#take(id)) this.#wakeWaiters();
            return;
          }
          if (!finishedOn) return;
          const c = this.#take(id);
          if (!c) return;
          if (failedReason === CANCELLED_REASON) {
            this.#wakeWaiters();
          } else if (failedReason || !returnvalue) {
            this.#push(
              erroredResult(c, id, failedReason ?? 'failed', {
                attempts: Number(attemptsMade ?? 0),
                totalMs: Math.max(0, Number(finishedOn) - Number(timestamp ?? finishedOn)),
              }),
            );
          } else {
            this.#push(completedResult(c, id, JSON.parse(returnvalue) as AnswerResult));
          }
        });
      }
      this.#lastEventAt = Date.now();
    } finally {
      this.#reconciling = false;
    }
    return missing;
  }

  /** Resolves when at most `limit` cases are still pending and their results handed over. */
  async waitBelow(limit: number): Promise<void> {
    while (this.#pending.size > limit) {
      await new Promise<void>((resolve) => this.#idleWaiters.push(resolve));
    }
    await this.#flushing;
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.#flushing;
    await this.#events.close();
  }

  #take(jobId: string): EvalCase | undefined {
    const c = this.#pending.get(jobId);
    if (c) {
      // Only this run's events count as events: another producer's jobs finishing on the same
      // queue must not put off the read that finds this run's trimmed ones.
      this.#lastEventAt = Date.now();
      this.#pending.delete(jobId);
    }
    this.#added.delete(jobId);
    return c;
  }

  #push(result: CaseResult): void {
    this.#buffer.push(result);
    // Results that arrive together are written together: one write per tick, not per case.
    if (this.#buffer.length === 1) {
      this.#flushing = this.#flushing.then(async () => {
        await new Promise<void>((resolve) => setImmediate(resolve));
        const batch = this.#buffer;
        this.#buffer = [];
        await this.#opts.onResults(batch);
        this.#wakeWaiters();
      });
    }
  }

  /** Lets {@link RunFollower.waitBelow} look again (a case finished or left the run). */
  #wakeWaiters(): void {
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const w of waiters) w();
  }

  #jobKey(id: string): string {
    return `${this.#opts.prefix}:${this.#opts.queueName}:${id}`;
  }
}
