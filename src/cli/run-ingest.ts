import { ingest, type IngestSummary } from '../producer/ingest.ts';
import type { Config } from '../shared/config.ts';
import { startInProcessWorker } from './in-process-worker.ts';
import { createProgress } from './progress.ts';

export interface RunIngestOptions {
  namespace?: string;
  withWorker?: boolean;
  json?: boolean;
}

/** `askq ingest <path…>`: returns the exit code (1 when a batch failed or nothing was read). */
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
      redisUrl: config.REDIS_URL,
      prefix: config.ASKQ_PREFIX,
      chunkSize: config.ASKQ_CHUNK_SIZE,
      chunkOverlap: config.ASKQ_CHUNK_OVERLAP,
      ...(options.namespace ? { namespace: options.namespace } : {}),
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
    process.stdout.write(
      `ingested ${summary.documents} documents, ${summary.chunks} chunks ` +
        `(${summary.upserted} upserted, ${summary.deleted} stale deleted, ` +
        `${summary.skipped.length} skipped, ${summary.failed.length} batches failed)\n`,
    );
    for (const f of summary.failed) {
      process.stderr.write(`failed batch ${f.jobId} (${f.documents.join(', ')}): ${f.reason}\n`);
    }
  }
  return summary.failed.length > 0 || summary.documents === 0 ? 1 : 0;
}
