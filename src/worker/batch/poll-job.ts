import { DelayedError, type Job, UnrecoverableError } from 'bullmq';

import type { Batch } from '../../shared/batch/batch-api.ts';
import {
  batchChunkDataSchema,
  type BatchOutcome,
  type BatchRecord,
  FINAL_BATCH_STATUSES,
} from '../../shared/batch/batch-lane.ts';
import type { BatchStore } from '../../shared/batch/batch-store.ts';
import { formatIssues } from '../../shared/contracts.ts';
import { SpanKind, withSpan } from '../../shared/telemetry/spans.ts';
import { computeBackoff } from '../attempt/backoff.ts';
import {
  type BatchLaneDeps,
  endCases,
  ensureSubmit,
  isPermanentApiError,
  storeOf,
  wakeCases,
} from './batch-lane-deps.ts';
import { batchAttributes, caseLinks } from './batch-spans.ts';
import { readOutcomes } from './read-outcomes.ts';

export interface PollResult {
  chunk: number;
  batchId: string;
  status: string;
  answered: number;
  retried: number;
  errored: number;
}

/**
 * Checks a batch and, once it has ended, collects it. Until then the job puts itself back
 * (delayed, the wait doubling from `pollMs` to `pollMaxMs`): no process waits on a batch.
 * Collection hands every request of the batch an outcome or a later batch in one Redis
 * transaction (see BatchStore.settle), then wakes the cases; a crash before the transaction
 * collects again, one after it only wakes the cases again.
 */
export async function runPollJob(
  job: Job,
  token: string | undefined,
  deps: BatchLaneDeps,
): Promise<PollResult> {
  const parsed = batchChunkDataSchema.safeParse(job.data);
  if (!parsed.success)
    throw new UnrecoverableError(`invalid job data: ${formatIssues(parsed.error)}`);
  const { runId, chunk } = parsed.data;
  const store = storeOf(deps, runId);
  const record = await store.record(chunk);
  if (!record?.batchId) throw new UnrecoverableError(`chunk ${chunk} of run ${runId} has no batch`);
  const batchId = record.batchId;
  const ids = await store.chunkIds(chunk);
  if (record.collected) {
    await wakeCases(deps, ids);
    return { chunk, batchId, status: record.status, answered: 0, retried: 0, errored: 0 };
  }
  // Never gives up on a batch over a passing error: the job checks again later.
  const checkLater = async (why: string): Promise<never> => {
    const polls = (parsed.data.polls ?? 0) + 1;
    const delay = computeBackoff(polls, {
      baseMs: deps.settings.pollMs,
      maxMs: deps.settings.pollMaxMs,
    });
    await job.updateData({ ...parsed.data, polls });
    await job.moveToDelayed(Date.now() + delay, token);
    throw new DelayedError(why);
  };
  const giveUp = async (err: unknown): Promise<never> => {
    const message = `batch ${batchId} cannot be read: ${err instanceof Error ? err.message : String(err)}`;
    const ended = { ...record, status: 'failed', collected: true, updatedAt: Date.now() };
    await endCases(deps, store, ended, ids, message);
    throw new UnrecoverableError(message);
  };
  let batch: Batch;
  try {
    batch = await deps.api.retrieve(batchId);
  } catch (err) {
    if (isPermanentApiError(err)) return giveUp(err);
    deps.logger.warn({ err, runId, chunk, batchId }, 'batch status check failed; checking later');
    return checkLater(`could not check batch ${batchId}`);
  }
  const current: BatchRecord = {
    ...record,
    status: batch.status,
    ...countsOf(batch),
    updatedAt: Date.now(),
  };
  if (!(FINAL_BATCH_STATUSES as readonly string[]).includes(batch.status)) {
    await store.saveRecord(current);
    return checkLater(`batch ${batchId} is ${batch.status}`);
  }
  try {
    return await collect(deps, store, batch, current, ids);
  } catch (err) {
    if (err instanceof DelayedError) throw err;
    if (isPermanentApiError(err)) return giveUp(err);
    deps.logger.warn({ err, runId, chunk, batchId }, 'batch collection failed; trying later');
    return checkLater(`could not collect batch ${batchId}`);
  }
}

/** Hands a finished batch's requests their outcomes (or a later batch) and wakes the cases. */
async function collect(
  deps: BatchLaneDeps,
  store: BatchStore,
  batch: Batch,
  current: BatchRecord,
  ids: string[],
): Promise<PollResult> {
  const { runId } = store;
  const { chunk } = current;
  const batchId = batch.id;
  const links = caseLinks(await store.traces(ids.slice(0, 128)));
  const attributes = {
    ...batchAttributes({ model: deps.ports.chat.model, batchId, requests: ids.length }),
    'askq.batch.status': batch.status,
  };
  return withSpan('batch collect', { kind: SpanKind.CLIENT, attributes, links }, async (span) => {
    const meta = await store.meta();
    const { outcomes, retry } = await readOutcomes(deps.api, batch, ids, {
      waitedMs: Date.now() - (current.submittedAt ?? Date.now()),
      tries: await store.tries(ids),
      maxTries: deps.settings.maxTries,
      fallback: meta?.fallback ?? 'batch',
      cancelled: await store.isCancelled(),
    });
    const open = await store.settle({ ...current, collected: true }, outcomes, retry);
    if (retry.length > 0) await ensureSubmit(deps, runId, open);
    await wakeCases(deps, [...outcomes.keys()]);
    const result = {
      chunk,
      batchId,
      status: batch.status,
      answered: count(outcomes, 'answer') + count(outcomes, 'online'),
      retried: retry.length,
      errored: count(outcomes, 'error'),
    };
    span.setAttributes({
      'askq.batch.answered': result.answered,
      'askq.batch.retried': result.retried,
      'askq.batch.errored': result.errored,
    });
    deps.logger.info({ runId, ...result }, 'batch collected');
    return result;
  });
}

function countsOf(batch: Batch): Pick<BatchRecord, 'counts'> {
  const c = batch.request_counts;
  return c ? { counts: { total: c.total, completed: c.completed, failed: c.failed } } : {};
}

function count(outcomes: Map<string, BatchOutcome>, kind: BatchOutcome['kind']): number {
  let n = 0;
  for (const o of outcomes.values()) if (o.kind === kind) n += 1;
  return n;
}
