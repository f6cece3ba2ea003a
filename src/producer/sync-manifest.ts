import { z } from 'zod';

import type { Redis } from '../shared/redis.ts';

/** What `ingest --sync` last put in a namespace from one file. */
export interface ManifestEntry {
  /** The file's content hash, qualified by how it was chunked (see {@link syncHash}). */
  hash: string;
  /** The document ids the file produced (one, or one per JSONL line). */
  docs: string[];
}

const entrySchema = z.object({ hash: z.string(), docs: z.array(z.string()) });

/**
 * The Redis hash (file id → entry) recording what `ingest --sync` put in a namespace. It
 * starts with the askq prefix like every other key, so a prefix written as a hash tag
 * (`{askq}`) keeps it in the same cluster slot.
 */
export function manifestKey(prefix: string, namespace: string): string {
  return `${prefix}:manifest:${namespace}`;
}

/**
 * Bumped when parsing or chunking changes what a file yields, so the next sync re-ingests
 * files whose bytes did not change.
 */
const CHUNKING_VERSION = 1;

/** The hash a manifest records: the content hash with the settings the chunks depend on. */
export function syncHash(
  contentHash: string,
  chunking: { chunkSize: number; chunkOverlap: number },
): string {
  return `v${CHUNKING_VERSION}:${chunking.chunkSize}:${chunking.chunkOverlap}:${contentHash}`;
}

/** The namespace's manifest; an entry that does not parse is left out (its file counts as new). */
export async function readManifest(
  redis: Redis,
  prefix: string,
  namespace: string,
): Promise<Map<string, ManifestEntry>> {
  const raw = await redis.hgetall(manifestKey(prefix, namespace));
  const entries = new Map<string, ManifestEntry>();
  for (const [file, json] of Object.entries(raw)) {
    try {
      entries.set(file, entrySchema.parse(JSON.parse(json)));
    } catch {
      // A damaged entry only costs one re-ingestion of that file.
    }
  }
  return entries;
}

/** Records files as ingested and forgets deleted ones, in one transaction. */
export async function writeManifest(
  redis: Redis,
  prefix: string,
  namespace: string,
  changes: { set: Map<string, ManifestEntry>; remove: string[] },
): Promise<void> {
  if (changes.set.size === 0 && changes.remove.length === 0) return;
  const key = manifestKey(prefix, namespace);
  const multi = redis.multi();
  if (changes.set.size > 0) {
    multi.hset(key, Object.fromEntries([...changes.set].map(([f, e]) => [f, JSON.stringify(e)])));
  }
  if (changes.remove.length > 0) multi.hdel(key, ...changes.remove);
  await multi.exec();
}
