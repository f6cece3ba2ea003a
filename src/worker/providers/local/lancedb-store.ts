import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';

import { ValidationError } from '../../../shared/errors.ts';
import type { VectorMatch, VectorRecord, VectorStorePort } from '../../../shared/ports.ts';
import { MILLISECOND } from '../../../shared/time.ts';
// Types only: the module itself, and LanceDB with it, is imported when first needed.
import type { LanceDbTable } from './lancedb-connection.ts';
import {
  checkDimensions,
  type ChunkRow,
  sqlString,
  tableNameFor,
  toMatch,
} from './lancedb-table.ts';
import { cosineTopK, type NamespaceSnapshot, NamespaceSnapshots } from './namespace-snapshots.ts';
import { SnapshotFiles, tableIdentity, TableVersions } from './snapshot-files.ts';

/** Options of {@link LanceDbVectorStore.open}. */
export interface LanceDbVectorStoreOptions {
  /** Folder holding the database; created when missing. Worker processes on one machine share it. */
  dir: string;
  /**
   * The embedding model and size the vectors come from, e.g. `local-hashing-v1-1024`. It names
   * the table, so vectors of two models are never compared with each other.
   */
  embeddingId: string;
  /**
   * Seconds a read may serve a table version without checking for other processes' writes.
   * 0 checks on every read: cheap on a local disk, and a question asked right after an ingest
   * by another worker sees the new chunks.
   * @defaultValue 0
   */
  readConsistencySeconds?: number;
  /**
   * Namespaces of at most this many chunks are searched in memory (an exact cosine scan over
   * a snapshot, refreshed when the table's version changes) instead of by LanceDB, whose
   * per-query cost is fixed, and are copied to a snapshot file at each write so a process
   * that only searches them never loads LanceDB; 0 always uses LanceDB.
   * @defaultValue 2000
   */
  inMemoryMaxRows?: number;
  /**
   * Attempts of a write that loses a commit race against another process, beyond the retries
   * LanceDB makes by itself.
   * @defaultValue 5
   */
  writeAttempts?: number;
  /**
   * First delay between those attempts; it doubles each time, with jitter.
   * @defaultValue 50 * MILLISECOND
   */
  writeRetryDelayMs?: number;
}

const DEFAULTS = {
  readConsistencySeconds: 0,
  inMemoryMaxRows: 2000,
  writeAttempts: 5,
  writeRetryDelayMs: 50 * MILLISECOND,
} satisfies Required<Omit<LanceDbVectorStoreOptions, 'dir' | 'embeddingId'>>;

type Settings = Required<LanceDbVectorStoreOptions>;

/** The table's latest version, and which table it is ({@link tableIdentity}). */
interface LatestVersion {
  version: number;
  identity: string | undefined;
}

/**
 * The embedded default vector store: LanceDB tables in a local folder, one table per embedding
 * model, namespaces as a filtered column. Search is exact (brute force), which is fast for the
 * corpora a single machine ingests. A namespace within the in-memory threshold is searched in
 * memory from a snapshot file written at each write (see {@link SnapshotFiles}), so LanceDB's
 * native module, about 150 MB once it searches, is loaded only by a process that writes, or
 * searches a larger namespace, or finds no file for the table's latest version.
 */
export class LanceDbVectorStore implements VectorStorePort {
  readonly provider = 'lancedb';
  /** The table this store reads and writes. */
  readonly tableName: string;
  /** Same as {@link tableName}: what spans call the searched index. */
  get indexName(): string {
    return this.tableName;
  }
  readonly #settings: Settings;
  #snapshots = new NamespaceSnapshots();
  /** The snapshot files of the table last seen. */
  #files: SnapshotFiles | undefined;
  /** The table the in-memory snapshots are of ({@link tableIdentity}). */
  #identity: string | undefined;
  #lanceDb: Promise<LanceDbTable> | undefined;
  /** The version listing in flight, shared by the queries that arrive meanwhile. */
  #versionRead: Promise<LatestVersion | undefined> | undefined;
  /** The table folder's latest version, listed again only when it changed. */
  readonly #versions: TableVersions;

  private constructor(settings: Settings) {
    this.#settings = settings;
    this.tableName = tableNameFor(settings.embeddingId);
    this.#versions = new TableVersions(this.#tableDir());
  }

  /** Prepares the store in `options.dir`; the table itself is created on first upsert. */
  static async open(options: LanceDbVectorStoreOptions): Promise<LanceDbVectorStore> {
    const settings: Settings = { ...DEFAULTS, ...options };
    if (settings.embeddingId.length === 0) {
      throw new ValidationError('LanceDbVectorStore needs a non-empty embeddingId');
    }
    await mkdir(settings.dir, { recursive: true });
    return new LanceDbVectorStore(settings);
  }

  async upsert(namespace: string, records: VectorRecord[], signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    if (records.length === 0) return;
    const dimensions = records[0]!.values.length;
    // A merge with two source rows for one key would insert both, so the last one wins here.
    const rows = new Map<string, ChunkRow>();
    for (const record of records) {
      if (record.values.length !== dimensions || dimensions === 0) {
        throw new ValidationError(
          `every vector in one upsert must have the same non-zero length (${dimensions}), ` +
            `got ${record.values.length} for ${record.id}`,
        );
      }
      const key = `${namespace}\u0000${record.id}`;
      rows.set(key, {
        key,
        id: record.id,
        namespace,
        docId: record.docId,
        chunk: record.chunk,
        text: record.text,
        metadata: JSON.stringify(record.metadata ?? {}),
        vector: record.values,
      });
    }
    const lanceDb = await this.#openLanceDb();
    const version = await lanceDb.upsert([...rows.values()], dimensions, signal);
    await this.#afterWrite(lanceDb, namespace, version);
  }

  async deleteChunksFrom(
    namespace: string,
    docId: string,
    fromChunk: number,
    signal?: AbortSignal,
  ): Promise<number> {
    signal?.throwIfAborted();
    if (!Number.isInteger(fromChunk)) {
      throw new ValidationError(`fromChunk must be an integer, got ${fromChunk}`);
    }
    const lanceDb = await this.#openLanceDb();
    const result = await lanceDb.delete(
      `namespace = ${sqlString(namespace)} AND \`docId\` = ${sqlString(docId)} ` +
        `AND chunk >= ${fromChunk}`,
      signal,
    );
    // A delete that found nothing (another process deleted first) may or may not have
    // committed: its version is then not known to be this write's alone, so files are left
    // for readers to renew.
    if (!result || result.version === undefined || result.deleted === 0) return 0;
    await this.#afterWrite(lanceDb, namespace, result.version);
    return result.deleted;
  }

  async query(
    namespace: string,
    vector: number[],
    topK: number,
    signal?: AbortSignal,
  ): Promise<VectorMatch[]> {
    signal?.throwIfAborted();
    if (topK < 1) return [];
    const limit = Math.floor(topK);
    const { inMemoryMaxRows } = this.#settings;
    if (inMemoryMaxRows > 0) {
      const latest = await this.#latestVersion();
      if (latest === undefined) return [];
      const { version, identity } = latest;
      // Another table under this name (deleted and created again): its versions start over.
      if (identity !== this.#identity) {
        this.#identity = identity;
        this.#snapshots = new NamespaceSnapshots();
      }
      const snapshot = await this.#snapshots.get(namespace, version, () =>
        this.#loadSnapshot(namespace, version, identity),
      );
      checkDimensions(snapshot.dimensions, vector.length, this.tableName);
      if (snapshot.rows) {
        signal?.throwIfAborted();
        return cosineTopK(snapshot.rows, vector, limit).map(({ row, score }) =>
          toMatch(row, score),
        );
      }
    }
    return (await this.#openLanceDb()).search(namespace, vector, limit, signal);
  }

  async close(): Promise<void> {
    const lanceDb = await this.#lanceDb?.catch(() => undefined);
    this.#lanceDb = undefined;
    await lanceDb?.close();
  }

  /** LanceDB's side of the store, loaded on first use. */
  #openLanceDb(): Promise<LanceDbTable> {
    this.#lanceDb ??= import('./lancedb-connection.ts')
      .then(({ LanceDbTable }) =>
        LanceDbTable.open({ ...this.#settings, tableName: this.tableName }),
      )
      .catch((err: unknown) => {
        // Not remembered: the next call tries again (a folder made readable, say).
        this.#lanceDb = undefined;
        throw err;
      });
    return this.#lanceDb;
  }

  /**
   * The table's latest version, undefined while no process has created it. Queries that arrive
   * while a listing is in flight share it; a write of this process ends the sharing of one that
   * started before the write committed (see {@link #afterWrite}), so a query after an upsert
   * returns always sees it.
   */
  #latestVersion(): Promise<LatestVersion | undefined> {
    const read = (this.#versionRead ??= this.#readLatestVersion().finally(() => {
      if (this.#versionRead === read) this.#versionRead = undefined;
    }));
    return read;
  }

  async #readLatestVersion(): Promise<LatestVersion | undefined> {
    // A table deleted and created again between reading its identity and listing its versions
    // would pair one table's identity with the other's version: a window of microseconds
    // around a manual reset.
    const { identity, version: listed } = await this.#versions.read();
    if (listed === 'none') return undefined;
    if (listed !== 'unknown') return { version: listed, identity };
    const version = await (await this.#openLanceDb()).version();
    return version === undefined ? undefined : { version, identity };
  }

  #filesOf(identity: string): SnapshotFiles {
    if (this.#files?.identity !== identity) {
      this.#files = new SnapshotFiles(this.#settings.dir, this.tableName, identity);
    }
    return this.#files;
  }

  #tableDir(): string {
    return join(this.#settings.dir, `${this.tableName}.lance`);
  }

  /** The namespace at `version` from its file, else from LanceDB (then filed for others). */
  async #loadSnapshot(
    namespace: string,
    version: number,
    identity: string | undefined,
  ): Promise<NamespaceSnapshot> {
    const files = identity === undefined ? undefined : this.#filesOf(identity);
    // A file that cannot be read is no worse than a missing one: LanceDB has the data.
    const filed = await files?.read(namespace, version).catch(() => undefined);
    if (filed) return filed;
    const snapshot = await (
      await this.#openLanceDb()
    ).readNamespaceAt(namespace, version, this.#settings.inMemoryMaxRows);
    // An empty namespace is not filed: queries naming any string must not each leave a file.
    if (snapshot.rows?.length) await files?.write(namespace, snapshot).catch(() => {});
    return snapshot;
  }

  /**
   * Files the namespace this process just wrote, at the version its commit made, and carries
   * the other namespaces' files over that commit, which did not touch them.
   */
  async #afterWrite(lanceDb: LanceDbTable, namespace: string, version: number): Promise<void> {
    // A listing in flight may have started before this commit: later queries start their own.
    this.#versionRead = undefined;
    const { inMemoryMaxRows } = this.#settings;
    if (inMemoryMaxRows <= 0) return;
    try {
      const identity = await tableIdentity(this.#tableDir());
      if (identity === undefined) return;
      const files = this.#filesOf(identity);
      await files.carryForward(namespace, version);
      await files.write(
        namespace,
        await lanceDb.readNamespaceAt(namespace, version, inMemoryMaxRows),
      );
      // One version back is kept for the readers that listed the table just before this commit.
      await files.prune(version - 1);
    } catch {
      // The write itself committed; without a file for the latest version readers use LanceDB.
    }
  }
}
