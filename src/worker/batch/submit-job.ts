import { DelayedError, type Job, UnrecoverableError } from 'bullmq';

import { batchChunkDataSchema } from '../../shared/batch/batch-lane.ts';
import { formatIssues } from '../../shared/contracts.ts';
import { SpanKind, withSpan } from '../../shared/telemetry/spans.ts';
import { SECOND } from '../../shared/time.ts';
import {
  type BatchLaneDeps,
  endCases,
  ensurePoll,
  ensureSubmit,
  isPermanentApiError,
  storeOf,
} from './batch-lane-deps.ts';
import { batchAttributes, caseLinks } from './batch-spans.ts';

export interface SubmitResult {
  chunk: number;
  requests: number;
  batchId?: string;
}

/**
 * Submits one chunk of a run's requests as a batch, each step saved before the next depends
 * on it: the chunk's members are sealed (once), the file is uploaded and its id saved, then
 * the batch is created and its id saved. Before creating, the run's batches are searched by
 * metadata, so a batch created just before a crash (its id never saved) is adopted rather
 * than made twice. While requests are still arriving the job waits a window more (up to
 * `gatherMaxMs`), so a run makes few large batches rather than many small ones.
 */
export async function runSubmitJob(
  job: Job,
  token: string | undefined,
  deps: BatchLaneDeps,
): Promise<SubmitResult> {
  const parsed = batchChunkDataSchema.safeParse(job.data);
  if (!parsed.success)
    throw new UnrecoverableError(`invalid job data: ${formatIssues(parsed.error)}`);
  const { runId, chunk, seen } = parsed.data;
  const store = storeOf(deps, runId);
  const { settings } = deps;
  let record = await store.record(chunk);
  if (!record) {
    if ((await store.openChunk()) === chunk) {
      const queued = await store.pendingCount();
      const gathering = Date.now() - job.timestamp < settings.gatherMaxMs;
      if (queued < settings.maxRequests && queued > (seen ?? 0) && gathering) {
        await job.updateData({ ...parsed.data, seen: queued });
        await job.moveToDelayed(Date.now() + settings.windowMs, token);
        throw new DelayedError('requests are still arriving');
      }
    }
    const { queued } = await store.seal(chunk, settings);
    if (queued > 0) await ensureSubmit(deps, runId, chunk + 1);
    const ids = await store.chunkIds(chunk);
    record = { chunk, requests: ids.length, status: 'sealed', updatedAt: Date.now() };
    await store.saveRecord(record);
  }
  if (record.requests === 0) return { chunk, requests: 0 };
  const ids = await store.chunkIds(chunk);
  if (record.batchId) {
    await ensurePoll(deps, runId, chunk);
    return { chunk, requests: record.requests, batchId: record.batchId };
  }
  if (await store.isCancelled()) {
    await endCases(
      deps,
      store,
      { ...record, status: 'cancelled', collected: true },
      ids,
      'run cancelled before its batch was submitted',
    );
    return { chunk, requests: record.requests };
  }
  const model = deps.ports.chat.model;
  const links = caseLinks(await store.traces(ids.slice(0, 128)));
  try {
    return await withSpan(
      'batch submit',
      {
        kind: SpanKind.CLIENT,
        attributes: batchAttributes({ model, requests: ids.length }),
        links,
      },
      async (span) => {
        const meta = await store.meta();
        const found = await deps.api.find(runId, chunk, meta?.createdAt ?? 0);
        let current = record;
        if (found) {
          current = {
            ...current,
            fileId: found.input_file_id,
            batchId: found.id,
            status: found.status,
            submittedAt: found.created_at * SECOND,
            updatedAt: Date.now(),
          };
        } else {
          if (!current.fileId) {
            const fileId = await deps.api.upload(
              `askq-${runId}-${chunk}.jsonl`,
              await store.lines(ids),
            );
            current = { ...current, fileId, status: 'uploaded', updatedAt: Date.now() };
            await store.saveRecord(current);
          }
          const batch = await deps.api.create(current.fileId!, runId, chunk);
          current = {
            ...current,
            batchId: batch.id,
            status: batch.status,
            submittedAt: Date.now(),
            updatedAt: Date.now(),
          };
        }
        await store.saveRecord(current);
        span.setAttribute('askq.batch.id', current.batchId!);
        span.setAttribute('askq.batch.adopted', Boolean(found));
        deps.logger.info(
          { runId, chunk, batchId: current.batchId, requests: ids.length, adopted: Boolean(found) },
          'batch submitted',
        );
        await ensurePoll(deps, runId, chunk);
        return { chunk, requests: ids.length, batchId: current.batchId! };
      },
    );
  } catch (err) {
    // A batch that can never be submitted must not leave its cases asleep for ever.
    const final = isPermanentApiError(err) || job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
    if (!final) throw err;
    const message = `batch submission failed: ${err instanceof Error ? err.message : String(err)}`;
    await endCases(
      deps,
      store,
      { ...record, status: 'failed', collected: true, updatedAt: Date.now() },
      ids,
      message,
    );
    throw new UnrecoverableError(message);
  }
}
