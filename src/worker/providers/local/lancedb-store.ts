import { mkdir } from 'node:fs/promises';

import { connect, type Connection, type Table } from '@lancedb/lancedb';
import type { FixedSizeList } from 'apache-arrow';

import { TransientError, ValidationError } from '../../../shared/errors.ts';
import type { VectorMatch, VectorRecord, VectorStorePort } from '../../../shared/ports.ts';
import { MILLISECOND } from '../../../shared/time.ts';
import {
  type ChunkRow,
  chunkSchema,
  isTableExisting,
  isTableMissing,
  retryCommitConflicts,
  type RetryCommitOptions,
  sqlString,
  tableNameFor,
} from './lancedb-table.ts';
import { cosineTopK, NamespaceSnapshots } from './namespace-snapshots.ts';

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
   * per-query cost is fixed; 0 always uses LanceDB.
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

function parseMetadata(json: string): Record<string, string> | undefined {
  const parsed = JSON.parse(json) as Record<string, string>;
  return Object.keys(parsed).length > 0 ? parsed : undefined;
}

/** What a query reads back: the chosen columns and LanceDB's distance. */
interface MatchRow {
  docId: string;
  chunk: number;
  text: string;
  metadata: string;
  _distance: number;
}

const MATCH_COLUMNS = ['docId', 'chunk', 'text', 'metadata', '_distance'];

/**
 * The embedded default vector store: LanceDB tables in a local folder, one table per embedding
 * model, namespaces as a filtered column. Search is brute force (exact), which is fast for the
 * corpora a single machine ingests; writes from several worker processes are safe because
 * LanceDB commits optimistically and this class retries the commits that lose a race.
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
  readonly #snapshots: NamespaceSnapshots;
  readonly #connection: Connection;
  #table: Table | undefined;
  /** Length of the table's vectors, once read from its schema. */
  #dimensions: number | undefined;
  /** An open or create in flight, shared so concurrent calls wait for the same handle. */
  #pending: Promise<Table | undefined> | undefined;

  private constructor(settings: Settings, connection: Connection) {
    this.#settings = settings;
    this.#snapshots = new NamespaceSnapshots({ maxRows: settings.inMemoryMaxRows });
    this.#connection = connection;
    this.tableName = tableNameFor(settings.embeddingId);
  }

  /** Connects to the database in `options.dir`; the table itself is created on first upsert. */
  static async open(options: LanceDbVectorStoreOptions): Promise<LanceDbVectorStore> {
    const settings: Settings = { ...DEFAULTS, ...options };
    if (settings.embeddingId.length === 0) {
      throw new ValidationError('LanceDbVectorStore needs a non-empty embeddingId');
    }
    await mkdir(settings.dir, { recursive: true });
    const connection = await connect(settings.dir, {
      readConsistencyInterval: settings.readConsistencySeconds,
    });
    return new LanceDbVectorStore(settings, connection);
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
    const table = await this.#writableTable(dimensions);
    await this.#checkDimensions(table, dimensions);
    await retryCommitConflicts(this.#retryOptions(signal), () =>
      table
        .mergeInsert('key')
        .whenMatchedUpdateAll()
        .whenNotMatchedInsertAll()
        .execute([...rows.values()]),
    );
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
    const table = await this.#existingTable();
    if (!table) return 0;
    const predicate =
      `namespace = ${sqlString(namespace)} AND \`docId\` = ${sqlString(docId)} ` +
      `AND chunk >= ${fromChunk}`;
    const result = await retryCommitConflicts(this.#retryOptions(signal), () =>
      table.delete(predicate),
    );
    return result.numDeletedRows;
  }

  async query(
    namespace: string,
    vector: number[],
    topK: number,
    signal?: AbortSignal,
  ): Promise<VectorMatch[]> {
    signal?.throwIfAborted();
    if (topK < 1) return [];
    const table = await this.#existingTable();
    if (!table) return [];
    await this.#checkDimensions(table, vector.length);
    const snapshot = await this.#snapshots.rows(table, namespace);
    if (snapshot) {
      signal?.throwIfAborted();
      return cosineTopK(snapshot, vector, Math.floor(topK)).map(({ row, score }) => {
        const match: VectorMatch = { docId: row.docId, chunk: row.chunk, text: row.text, score };
        const metadata = parseMetadata(row.metadata);
        if (metadata) match.metadata = metadata;
        return match;
      });
    }
    const rows = (await table
      .vectorSearch(vector)
      .distanceType('cosine')
      .where(`namespace = ${sqlString(namespace)}`)
      .select(MATCH_COLUMNS)
      .limit(Math.floor(topK))
      .toArray()) as MatchRow[];
    signal?.throwIfAborted();
    return rows.map((row) => {
      const match: VectorMatch = {
        docId: row.docId,
        chunk: row.chunk,
        text: row.text,
        // Cosine distance is 1 - cosine similarity; a zero vector has no direction (NaN).
        score: Number.isFinite(row._distance) ? 1 - row._distance : 0,
      };
      const metadata = parseMetadata(row.metadata);
      if (metadata) match.metadata = metadata;
      return match;
    });
  }

  async close(): Promise<void> {
    await this.#pending?.catch(() => undefined);
    this.#table?.close();
    this.#table = undefined;
    this.#connection.close();
  }

  /** The table when some process has created it, else undefined (nothing ingested yet). */
  async #existingTable(): Promise<Table | undefined> {
    if (this.#table) return this.#table;
    // A miss is not remembered: another process may create the table at any moment.
    return this.#share(() =>
      this.#connection.openTable(this.tableName).catch((err: unknown) => {
        if (isTableMissing(err)) return undefined;
        throw err;
      }),
    );
  }

  /** The table, created with `dimensions`-long vectors if no process has created it yet. */
  async #writableTable(dimensions: number): Promise<Table> {
    const existing = await this.#existingTable();
    if (existing) return existing;
    const created = await this.#share(() =>
      this.#connection
        .createEmptyTable(this.tableName, chunkSchema(dimensions), {
          mode: 'create',
          existOk: true,
        })
        .catch((err: unknown) => {
          // Another process won the race to create it: open the winner's table.
          if (isTableExisting(err)) return this.#connection.openTable(this.tableName);
          throw err;
        }),
    );
    if (!created) throw new TransientError(`LanceDB table ${this.tableName} could not be created`);
    return created;
  }

  /** Runs one open or create at a time and keeps the handle it yields. */
  async #share(open: () => Promise<Table | undefined>): Promise<Table | undefined> {
    while (this.#pending) await this.#pending.catch(() => undefined);
    if (this.#table) return this.#table;
    const pending = open().then((table) => (this.#table = table));
    this.#pending = pending;
    try {
      return await pending;
    } finally {
      this.#pending = undefined;
    }
  }

  #retryOptions(signal: AbortSignal | undefined): RetryCommitOptions {
    const { writeAttempts, writeRetryDelayMs } = this.#settings;
    return { attempts: writeAttempts, delayMs: writeRetryDelayMs, signal, what: this.tableName };
  }

  async #checkDimensions(table: Table, dimensions: number): Promise<void> {
    if (this.#dimensions === undefined) {
      const field = (await table.schema()).fields.find((f) => f.name === 'vector');
      this.#dimensions = (field?.type as FixedSizeList | undefined)?.listSize;
    }
    if (this.#dimensions !== dimensions) {
      throw new ValidationError(
        `vector has ${dimensions} dimensions but table ${this.tableName} holds ${this.#dimensions}; ` +
          'use a different embeddingId for a different embedding model',
      );
    }
  }
}
