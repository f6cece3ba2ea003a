import { ingest, type IngestSummary } from '../producer/ingest.ts';
import type { Config } from '../shared/config.ts';
import { redisSettingsFrom } from '../shared/redis-settings.ts';
import { startInProcessWorker } from './in-process-worker.ts';
import { createProgress } from './progress.ts';

export interface RunIngestOptions {
  namespace?: string;
  withWorker?: boolean;
  json?: boolean;
  /** Mirror the one folder given into the namespace. */
  sync?: boolean;
}

/**
 * `askq ingest <path…>` and `askq ingest --sync <folder>`: returns the exit code (1 when a batch
 * failed or no file could be read).
 */
export async function runIngest(
  config: Config,
  paths: string[],
  options: RunIngestOptions,
): Promise<number> {
  // Only with --with-worker: plain ingestion never loads the providers.
  const worker = options.withWorker ? await startInProcessWorker(config) : undefined;
  const progress = createProgress('ingest');
  let summary: IngestSummary;
  try {
    summary = await ingest(paths, {
      redis: redisSettingsFrom(config),
      prefix: config.ASKQ_PREFIX,
      eventsMaxLen: config.ASKQ_EVENTS_MAX_LEN,
      chunkSize: config.ASKQ_CHUNK_SIZE,
      chunkOverlap: config.ASKQ_CHUNK_OVERLAP,
      highWaterPercent: config.ASKQ_REDIS_HIGH_WATER,
      maxFileBytes: config.ASKQ_INGEST_MAX_FILE_BYTES,
      maxChunksPerDocument: config.ASKQ_INGEST_MAX_CHUNKS,
      parseTimeoutMs: config.ASKQ_INGEST_PARSE_TIMEOUT_MS,
      parseMemoryMb: config.ASKQ_INGEST_PARSE_MEMORY_MB,
      // A sync keeps a manifest per namespace, so it names the namespace the workers default to.
      ...(options.namespace || options.sync
        ? { namespace: options.namespace ?? config.ASKQ_NAMESPACE }
        : {}),
      ...(options.sync ? { sync: true } : {}),
      onSkip: (s) => process.stderr.write(`skipped ${s.where}: ${s.reason}\n`),
      onProgress: ({ done, total }) => progress.update(done, total),
    });
  } finally {
    progress.stop();
    await worker?.close(config.ASKQ_SHUTDOWN_GRACE_MS);
  }
  if (options.json) {
    process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
  } else {
    const sync = options.sync
      ? `, ${summary.unchanged} files unchanged, ${summary.removed} documents removed`
      : '';
    process.stdout.write(
      `ingested ${summary.documents} documents, ${summary.chunks} chunks ` +
        `(${summary.upserted} upserted, ${summary.deleted} stale deleted, ` +
        `${summary.skipped.length} skipped, ${summary.failed.length} batches failed${sync})\n`,
    );
    for (const f of summary.failed) {
      process.stderr.write(`failed batch ${f.jobId} (${f.documents.join(', ')}): ${f.reason}\n`);
    }
  }
  // A sync that found nothing to change did its job; one whose files were all unreadable, or a
  // plain ingest that read nothing, did not.
  const readNothing = options.sync
    ? summary.documents + summary.unchanged === 0 && summary.skipped.length > 0
    : summary.documents === 0;
  return summary.failed.length > 0 || readNothing ? 1 : 0;
}
