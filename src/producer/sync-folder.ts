import { stat } from 'node:fs/promises';

import { ValidationError } from '../shared/errors.ts';
import type { Redis } from '../shared/redis.ts';
import { formatOf } from './documents/detect-format.ts';
import { type ReadFileOptions, readSourceFile } from './documents/read-source-file.ts';
import type { IngestBatches } from './ingest-batches.ts';
import { listFiles, type SourceFile } from './read-documents.ts';
import { type ManifestEntry, readManifest, syncHash, writeManifest } from './sync-manifest.ts';

/** What {@link syncFolder} works with: the run's settings, summary and batches. */
export interface SyncRun {
  prefix: string;
  namespace: string;
  chunking: { chunkSize: number; chunkOverlap: number };
  /** The counts a sync adds to the run's summary. */
  summary: { unchanged: number; removed: number };
  batches: IngestBatches;
  /** Chunks and enqueues a file's documents; returns the ids of those enqueued. */
  enqueueFile: (file: SourceFile) => Promise<string[]>;
  readOptions: Omit<ReadFileOptions, 'isChanged'>;
}

/** The one folder a sync mirrors, checked before anything connects. */
export async function checkSyncFolder(
  paths: string[],
  namespace: string | undefined,
): Promise<string> {
  const [dir] = paths;
  if (paths.length !== 1 || dir === undefined) {
    throw new ValidationError(`--sync takes exactly one folder, got ${paths.length} paths`);
  }
  if (!namespace) throw new ValidationError('--sync needs a namespace');
  const info = await stat(dir).catch(() => undefined);
  if (!info?.isDirectory()) throw new ValidationError(`--sync needs a folder: ${dir} is not one`);
  return dir;
}

/**
 * Makes the namespace mirror `dir` using its manifest: unchanged files are not read further
 * than their hash, changed and new ones are enqueued, documents of gone files (and lines gone
 * from a JSONL file) are deleted. The manifest records only what the workers finished.
 */
export async function syncFolder(redis: Redis, dir: string, run: SyncRun): Promise<void> {
  const { summary, batches, prefix, namespace } = run;
  const manifest = await readManifest(redis, prefix, namespace);
  const listed = await listFiles(dir, run.readOptions.onSkip);
  const set = new Map<string, ManifestEntry>();
  const remove = (docId: string, file: string) => {
    summary.removed += 1;
    return batches.deleteDocument(docId, file);
  };
  for (const { path, id } of listed) {
    const before = manifest.get(id);
    let hash = '';
    const file = await readSourceFile(path, id, formatOf(path)!, {
      ...run.readOptions,
      isChanged: (contentHash) => {
        hash = syncHash(contentHash, run.chunking);
        if (hash !== before?.hash) return true;
        summary.unchanged += 1;
        return false;
      },
    });
    if (!file) continue;
    const docs = await run.enqueueFile(file);
    for (const old of before?.docs ?? []) if (!docs.includes(old)) await remove(old, id);
    set.set(id, { hash, docs });
  }
  const present = new Set(listed.map((f) => f.id));
  const gone = [...manifest].filter(([file]) => !present.has(file));
  for (const [file, entry] of gone) for (const docId of entry.docs) await remove(docId, file);

  const failed = await batches.finish();
  for (const file of failed) set.delete(file);
  await writeManifest(redis, prefix, namespace, {
    set,
    remove: gone.map(([file]) => file).filter((file) => !failed.has(file)),
  });
}
