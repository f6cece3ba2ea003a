import { createHash } from 'node:crypto';
import { mkdir, open, stat, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';

import { TransientError, ValidationError } from '../../../shared/errors.ts';
import type { VectorMatch } from '../../../shared/ports.ts';

/**
 * How askq lays chunks out in LanceDB: one table per embedding space, the SQL literals its
 * filters use, and how to recognise the LanceDB errors the store handles. Free of LanceDB and
 * Arrow imports, so the store can name its table without loading either (the schema is in
 * lancedb-connection.ts).
 */

/** One row of the table. `key` joins namespace and id, the unit `upsert` replaces. */
export type ChunkRow = {
  key: string;
  id: string;
  namespace: string;
  docId: string;
  chunk: number;
  text: string;
  /** JSON of the record's metadata: LanceDB columns need one fixed type. */
  metadata: string;
  vector: number[];
};

/** A SQL string literal for a LanceDB filter: single quotes doubled, everything else verbatim. */
export function sqlString(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

/**
 * The table of an embedding id: `chunks_` plus the id, with anything but letters, digits, `_`
 * and `-` replaced. When something was replaced a short hash of the original is appended, so
 * two ids that differ only in those characters still get different tables.
 */
export function tableNameFor(embeddingId: string): string {
  const safe = embeddingId.replace(/[^A-Za-z0-9_-]/g, '_');
  if (safe === embeddingId && safe.length > 0) return `chunks_${safe}`;
  const digest = createHash('sha256').update(embeddingId).digest('hex').slice(0, 8);
  return `chunks_${safe}_${digest}`;
}

/** A write lost an optimistic-commit race to another writer; retrying it is safe. */
export function isCommitConflict(err: unknown): boolean {
  return err instanceof Error && /commit conflict|too many concurrent writ/i.test(err.message);
}

/** Opening failed because no process has created the table yet. */
export function isTableMissing(err: unknown): boolean {
  return err instanceof Error && /was not found|does not exist/i.test(err.message);
}

/** Creating failed because another process created the table first. */
export function isTableExisting(err: unknown): boolean {
  return err instanceof Error && /already exists/i.test(err.message);
}

/** How {@link retryCommitConflicts} retries. */
export interface RetryCommitOptions {
  /** Attempts in all, the first included. */
  attempts: number;
  /** Delay before the second attempt; it doubles each time, with jitter. */
  delayMs: number;
  signal?: AbortSignal | undefined;
  /** The table written, for the error message. */
  what: string;
}

/**
 * Runs a write, retrying it when it loses a commit race to another process (LanceDB's own
 * retries gave up). Any other error is thrown at once; a write that keeps losing becomes a
 * {@link TransientError}, so the queue retries the job later.
 */
export async function retryCommitConflicts<T>(
  options: RetryCommitOptions,
  write: () => Promise<T>,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await write();
    } catch (err) {
      if (!isCommitConflict(err)) throw err;
      if (attempt >= options.attempts) {
        throw new TransientError(
          `LanceDB write to ${options.what} lost ${attempt} commit races; try again later`,
          { cause: err },
        );
      }
      const backoff = options.delayMs * 2 ** (attempt - 1);
      await delay(backoff / 2 + Math.random() * backoff, undefined, { signal: options.signal });
    }
  }
}

/** How {@link createExclusively} creates. */
export interface CreateExclusivelyOptions<T> {
  /** The thing when some process has created it already, else undefined. */
  created: () => Promise<T | undefined>;
  /** Creates it; runs in one process at a time. */
  create: () => Promise<T>;
  /** A lock this old is its dead holder's and is taken over. @defaultValue 30000 */
  staleMs?: number;
  /** How often a process waiting for the lock looks again. @defaultValue 25 */
  pollMs?: number;
}

/**
 * Creates something at most once across processes sharing a folder: the process that creates
 * `lockPath` exclusively (O_EXCL) checks `created()` and else runs `create()`; the others wait
 * until the lock is gone or `created()` finds the result. For a LanceDB table: two processes
 * creating the same table at once both commit, the second as an overwrite (version 2, empty)
 * of the first, which fails the first's writes based on version 1 and can wipe rows it wrote.
 * A lock older than `staleMs` belonged to a process that died while creating and is removed;
 * two waiters removing the same stale lock at once could both create, a window only a crash
 * mid-create opens.
 */
export async function createExclusively<T>(
  lockPath: string,
  options: CreateExclusivelyOptions<T>,
): Promise<T> {
  const { staleMs = 30_000, pollMs = 25 } = options;
  await mkdir(dirname(lockPath), { recursive: true });
  for (;;) {
    let lock;
    try {
      lock = await open(lockPath, 'wx');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const existing = await options.created();
      if (existing !== undefined) return existing;
      const age = await stat(lockPath).then(
        (s) => Date.now() - s.mtimeMs,
        () => undefined,
      );
      // Gone meanwhile: try to take it at once. Otherwise wait, unless its holder is dead.
      if (age === undefined) continue;
      if (age > staleMs) await unlink(lockPath).catch(() => undefined);
      else await delay(pollMs);
      continue;
    }
    try {
      const existing = await options.created();
      return existing !== undefined ? existing : await options.create();
    } finally {
      await lock.close();
      await unlink(lockPath).catch(() => undefined);
    }
  }
}

/** Refuses a vector whose length differs from the table's. */
export function checkDimensions(
  tableDimensions: number | undefined,
  dimensions: number,
  tableName: string,
): void {
  if (tableDimensions !== dimensions) {
    throw new ValidationError(
      `vector has ${dimensions} dimensions but table ${tableName} holds ${tableDimensions}; ` +
        'use a different embeddingId for a different embedding model',
    );
  }
}

/** A match of a stored chunk: its metadata column (JSON) parsed, left out when empty. */
export function toMatch(
  row: { docId: string; chunk: number; text: string; metadata: string },
  score: number,
): VectorMatch {
  const match: VectorMatch = { docId: row.docId, chunk: row.chunk, text: row.text, score };
  const metadata = JSON.parse(row.metadata) as Record<string, string>;
  if (Object.keys(metadata).length > 0) match.metadata = metadata;
  return match;
}
