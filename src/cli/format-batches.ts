import type { BatchRecord } from '../shared/batch/batch-lane.ts';
import { SECOND } from '../shared/time.ts';

/**
 * A run's batches, one line each: chunk, batch id, status, request counts and time since
 * submission — `batch 0 batch_abc in_progress · 120/500 done, 2 failed · submitted 3m 10s ago`.
 */
export function formatBatches(records: BatchRecord[], now = Date.now()): string {
  return records
    .map((r) => {
      const counts = r.counts
        ? `${r.counts.completed}/${r.counts.total} done, ${r.counts.failed} failed`
        : `${r.requests} requests`;
      const since = r.submittedAt ? ` · submitted ${ago(now - r.submittedAt)} ago` : '';
      const collected = r.collected ? ' · collected' : '';
      return `batch ${r.chunk} ${r.batchId ?? '(not submitted)'} ${r.status} · ${counts}${since}${collected}`;
    })
    .join('\n');
}

function ago(ms: number): string {
  const s = Math.max(0, Math.round(ms / SECOND));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  return `${Math.floor(m / 60)}h ${m % 60}m`;
}
