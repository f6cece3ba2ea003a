import { createHash } from 'node:crypto';

import { FlowProducer, Job, type JobsOptions, Queue } from 'bullmq';

import { ANSWER_JOB, type AnswerJobData, QUESTIONS_QUEUE } from '../../shared/contracts.ts';
import { checkpointOf, type JobState, STATE_KEY } from '../../shared/job-state.ts';
import { eventStreamOptions } from '../../shared/queue-options.ts';
import type { Redis } from '../../shared/redis.ts';
import { CANCELLED_REASON } from '../../shared/tenancy/cancel-channel.ts';
import type { EvalCase } from './read-cases.ts';

/** Queue of evaluation runs: one parent job per run; no worker consumes it. */
export const EVAL_RUNS_QUEUE = 'eval-runs';

export interface EvalFlowOptions {
  connection: Redis;
  /** BullMQ key prefix. */
  prefix: string;
  runId: string;
  /** Priority of the cases: higher runs after interactive questions (which have none). */
  priority: number;
  /** Seconds finished case jobs are kept, so a resumed run finds what finished meanwhile. */
  keepSeconds: number;
  namespace?: string;
  topK?: number;
  /** Let cases be answered degraded (by a fallback) instead of failing. @defaultValue false */
  allowDegraded?: boolean;
  /** The grader model the cases ask for (`--grader`). @defaultValue the worker's */
  grader?: string;
  /**
   * Where the cases go: a lane other than the questions queue (the batch lane), with fields
   * added to each case's data. @defaultValue the questions queue, job name `answer`
   */
  lane?: { queue: string; jobName: string; data: Record<string, unknown> };
}

/**
 * A run as a BullMQ flow: a parent job `run` in {@link EVAL_RUNS_QUEUE} with one child per case
 * in the questions queue (job name `answer`), plus a `gate` child that holds the parent in
 * waiting-children until every case has been added. Cases are added in chunks (one `addBulk`
 * each, not one giant transaction), with `ignoreDependencyOnFailure` so a failed case is
 * recorded in the parent rather than failing the run. Child job ids derive from (run id, case
 * id), so adding a case twice (a resume, a retry) never duplicates it: BullMQ ignores the add.
 */
export class EvalFlow {
  readonly parentId: string;
  readonly #gateId: string;
  readonly #flows: FlowProducer;
  readonly #runs: Queue;
  readonly questions: Queue;
  readonly #opts: EvalFlowOptions;

  constructor(opts: EvalFlowOptions) {
    this.#opts = opts;
    this.parentId = `run-${opts.runId}`;
    this.#gateId = `run-${opts.runId}-gate`;
    const common = { connection: opts.connection, prefix: opts.prefix };
    this.#flows = new FlowProducer(common);
    // The questions queue's events-stream cap is the worker's and producers' to set.
    const handle = { ...common, ...eventStreamOptions(undefined) };
    this.#runs = new Queue(EVAL_RUNS_QUEUE, handle);
    this.questions = new Queue(opts.lane?.queue ?? QUESTIONS_QUEUE, handle);
    this.#flows.on('error', () => {});
    this.#runs.on('error', () => {});
    this.questions.on('error', () => {});
  }

  /** The job id of a case's question. */
  jobIdOf(caseId: string): string {
    return `ev-${this.#opts.runId}-${createHash('sha256').update(caseId).digest('hex').slice(0, 20)}`;
  }

  /**
   * Creates the run's parent with its gate closed, or reopens the gate of an existing one. A
   * parent already released (a finished run being retried) is replaced: BullMQ cannot move a
   * parent back to waiting-children.
   */
  async open(data: Record<string, unknown>): Promise<void> {
    const parent = await Job.fromId(this.#runs, this.parentId);
    if (parent) {
      if ((await parent.getState()) === 'waiting-children') {
        if (!(await Job.fromId(this.#runs, this.#gateId))) {
          await this.#runs.add('gate', {}, { jobId: this.#gateId, parent: this.#parentRef() });
        }
        return;
      }
      await parent.remove({ removeChildren: false });
    }
    await this.#flows.add({
      name: 'run',
      queueName: EVAL_RUNS_QUEUE,
      data,
      opts: { jobId: this.parentId },
      children: [{ name: 'gate', queueName: EVAL_RUNS_QUEUE, opts: { jobId: this.#gateId } }],
    });
  }

  /**
   * Adds one chunk of cases as children of the run (one addBulk); returns their job ids.
   * `carried` holds, per case id, the completed stages of its previous job (see {@link forget}).
   */
  async add(cases: EvalCase[], carried?: ReadonlyMap<string, JobState>): Promise<string[]> {
    const jobs = cases.map((c) => {
      const state = carried?.get(c.id);
      const data = { ...this.#jobData(c), ...this.#opts.lane?.data };
      return {
        name: this.#opts.lane?.jobName ?? ANSWER_JOB,
        data: state ? { ...data, [STATE_KEY]: state } : data,
        opts: this.#childOptions(c),
      };
    });
    await this.questions.addBulk(jobs);
    return jobs.map((j) => j.opts.jobId!);
  }

  /**
   * Removes a case's finished job so adding it again runs it again (`--retry-errors`), and
   * returns its completed stages (retrieval and answer) when it has both: a case whose scoring
   * failed is then only scored again, not answered again.
   */
  async forget(caseId: string): Promise<JobState | undefined> {
    const job = await Job.fromId(this.questions, this.jobIdOf(caseId));
    if (!job) return undefined;
    const carried = checkpointOf(job.data);
    await job.remove().catch(() => {});
    return carried;
  }

  /** Every case is added: the parent may now complete its children. */
  async release(): Promise<void> {
    const gate = await Job.fromId(this.#runs, this.#gateId);
    if (!gate) return;
    await gate.removeChildDependency();
    await gate.remove();
  }

  /** The parent's dependency counts: processed (answered), failed (ignored failures), pending. */
  async counts(): Promise<{ processed: number; failed: number; pending: number } | undefined> {
    const parent = await Job.fromId(this.#runs, this.parentId);
    if (!parent) return undefined;
    const c = await parent.getDependenciesCount();
    return {
      processed: c.processed ?? 0,
      failed: (c.failed ?? 0) + (c.ignored ?? 0),
      pending: c.unprocessed ?? 0,
    };
  }

  /**
   * Job ids of the run's cases not finished yet (the parent's unprocessed children), or
   * undefined when the run has no parent in Redis (finished and reported, or never started).
   */
  async unfinishedJobIds(): Promise<string[] | undefined> {
    const parent = await Job.fromId(this.#runs, this.parentId);
    if (!parent) return undefined;
    const questionsKey = `${this.#opts.prefix}:${this.questions.name}:`;
    const ids: string[] = [];
    let cursor = 0;
    do {
      const page = await parent.getDependencies({ unprocessed: { cursor, count: 1000 } });
      for (const key of page.unprocessed ?? []) {
        if (key.startsWith(questionsKey)) ids.push(key.slice(questionsKey.length));
      }
      cursor = page.nextUnprocessedCursor ?? 0;
    } while (cursor !== 0);
    return ids;
  }

  /** Marks the run cancelled: a producer still enqueueing it stops at its next chunk. */
  async markCancelled(): Promise<void> {
    await this.#opts.connection.set(this.#cancelledKey(), '1', 'EX', this.#opts.keepSeconds);
  }

  /** Whether the run was cancelled since it was last (re)started. */
  async isCancelled(): Promise<boolean> {
    return (await this.#opts.connection.exists(this.#cancelledKey())) === 1;
  }

  /** Remembers cases that were aborted while active: they end failed and a resume runs them. */
  async rememberAborted(jobIds: string[]): Promise<void> {
    if (jobIds.length === 0) return;
    const key = `${this.#cancelledKey()}:aborted`;
    await this.#opts.connection
      .multi()
      .sadd(key, ...jobIds)
      .expire(key, this.#opts.keepSeconds)
      .exec();
  }

  /**
   * Before a resume: lifts the cancel mark and removes the aborted cases' failed jobs, which
   * would otherwise swallow adding them again. Call it before following the run (their
   * removal events must not be taken for the new jobs').
   */
  async forgetCancellation(): Promise<void> {
    const key = `${this.#cancelledKey()}:aborted`;
    const ids = await this.#opts.connection.smembers(key);
    if (ids.length > 0) {
      const pipeline = this.#opts.connection.pipeline();
      for (const id of ids) pipeline.hget(this.#jobKey(id), 'failedReason');
      const replies = (await pipeline.exec()) ?? [];
      const cancelled = ids.filter((_, i) => replies[i]?.[1] === CANCELLED_REASON);
      await Promise.all(cancelled.map((id) => this.questions.remove(id).catch(() => 0)));
    }
    await this.#opts.connection.del(key, this.#cancelledKey());
  }

  /** Removes the parent once results are on disk; case jobs stay for their retention. */
  async finish(): Promise<void> {
    const parent = await Job.fromId(this.#runs, this.parentId);
    await parent?.remove({ removeChildren: false }).catch(() => {});
  }

  async close(): Promise<void> {
    await Promise.all([this.#flows.close(), this.#runs.close(), this.questions.close()]);
  }

  #jobKey(id: string): string {
    return `${this.#opts.prefix}:${this.questions.name}:${id}`;
  }

  #cancelledKey(): string {
    return `${this.#opts.prefix}:askq:eval-cancelled:${this.#opts.runId}`;
  }

  #parentRef() {
    return { id: this.parentId, queue: `${this.#opts.prefix}:${EVAL_RUNS_QUEUE}` };
  }

  #jobData(c: EvalCase): AnswerJobData {
    return {
      question: c.question,
      ...(this.#opts.namespace ? { namespace: this.#opts.namespace } : {}),
      ...(this.#opts.topK ? { topK: this.#opts.topK } : {}),
      ...(this.#opts.grader ? { grader: this.#opts.grader } : {}),
      ...(c.metadata ? { metadata: c.metadata } : {}),
      ...(c.expected === undefined ? {} : { expected: c.expected }),
      ...(c.expectedSources ? { expectedSources: c.expectedSources } : {}),
      ...(c.assert ? { assert: c.assert } : {}),
      // A degraded answer is not the model's: scored, it would blur the comparison. Such a
      // case fails with the reason it would have degraded, and counts as an error.
      ...(this.#opts.allowDegraded ? {} : { degrade: false }),
      ...(c.variant && Object.keys(c.variant.settings).length > 0
        ? { variant: c.variant.settings }
        : {}),
    };
  }

  #childOptions(c: EvalCase): JobsOptions & { jobId: string } {
    return {
      jobId: this.jobIdOf(c.id),
      priority: this.#opts.priority,
      parent: this.#parentRef(),
      ignoreDependencyOnFailure: true,
      // By age only: a count limit shared with live traffic could drop results of a long run.
      removeOnComplete: { age: this.#opts.keepSeconds },
      removeOnFail: { age: this.#opts.keepSeconds },
    };
  }
}

/**
 * A run's cases as its parent job counts them (answered, failed, not finished), read without
 * adding anything; undefined when the run has no parent in Redis (finished, or never started).
 */
export async function readRunCounts(
  connection: Redis,
  prefix: string,
  runId: string,
): Promise<{ processed: number; failed: number; pending: number } | undefined> {
  const flow = new EvalFlow({ connection, prefix, runId, priority: 1, keepSeconds: 1 });
  try {
    return await flow.counts();
  } finally {
    await flow.close().catch(() => {});
  }
}
