import { join } from 'node:path';

import { connect, type Connection, type Table } from '@lancedb/lancedb';
import { Field, FixedSizeList, Float32, Int32, Schema, Utf8 } from 'apache-arrow';

import { TransientError } from '../../../shared/errors.ts';
import type { VectorMatch } from '../../../shared/ports.ts';
import {
  checkDimensions,
  type ChunkRow,
  createExclusively,
  isTableExisting,
  isTableMissing,
  retryCommitConflicts,
  type RetryCommitOptions,
  sqlString,
  toMatch,
} from './lancedb-table.ts';
import { type NamespaceSnapshot, snapshotRow } from './namespace-snapshots.ts';

const PRIMARY_KEY_METADATA = 'lance-schema:unenforced-primary-key';

/** The Arrow schema of a chunk table whose vectors have `dimensions` float32 components. */
export function chunkSchema(dimensions: number): Schema {
  const utf8 = (name: string) => new Field(name, new Utf8(), false);
  return new Schema([
    // Marking the merge key as the primary key makes Lance detect two processes inserting the
    // same new key at once as a commit conflict (retried) instead of committing both rows.
    new Field('key', new Utf8(), false, new Map([[PRIMARY_KEY_METADATA, 'true']])),
    utf8('id'),
    utf8('namespace'),
    utf8('docId'),
    new Field('chunk', new Int32(), false),
    utf8('text'),
    utf8('metadata'),
    new Field(
      'vector',
      new FixedSizeList(dimensions, new Field('item', new Float32(), true)),
      false,
    ),
  ]);
}

/** How {@link LanceDbTable.open} connects and retries. */
export interface LanceDbTableOptions {
  dir: string;
  tableName: string;
  readConsistencySeconds: number;
  writeAttempts: number;
  writeRetryDelayMs: number;
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
 * The LanceDB side of the local store: one table in a local folder, one per embedding model,
 * namespaces as a filtered column. Writes from several worker processes are safe because
 * LanceDB commits optimistically and this class retries the commits that lose a race. Only
 * this module imports LanceDB (about 150 MB of native code once it searches), so the store
 * loads it when a write or a namespace beyond its in-memory threshold needs it.
 */
export class LanceDbTable {
  readonly #options: LanceDbTableOptions;
  readonly #connection: Connection;
  #table: Table | undefined;
  /** Length of the table's vectors, once read from its schema. */
  #dimensions: number | undefined;
  /** An open or create in flight, shared so concurrent calls wait for the same handle. */
  #pending: Promise<Table | undefined> | undefined;

  private constructor(options: LanceDbTableOptions, connection: Connection) {
    this.#options = options;
    this.#connection = connection;
  }

  static async open(options: LanceDbTableOptions): Promise<LanceDbTable> {
    const connection = await connect(options.dir, {
      readConsistencyInterval: options.readConsistencySeconds,
    });
    return new LanceDbTable(options, connection);
  }

  /** Writes `rows` (keys unique), replacing rows of the same key; returns the committed version. */
  async upsert(rows: ChunkRow[], dimensions: number, signal?: AbortSignal): Promise<number> {
    const table = await this.#writableTable(dimensions);
    await this.#checkDimensions(table, dimensions);
    const result = await retryCommitConflicts(this.#retryOptions(signal), () =>
      table.mergeInsert('key').whenMatchedUpdateAll().whenNotMatchedInsertAll().execute(rows),
    );
    return result.version;
  }

  /**
   * Deletes the rows `predicate` selects and says which version that committed (none when
   * nothing matched); undefined when no table exists yet.
   */
  async delete(
    predicate: string,
    signal?: AbortSignal,
  ): Promise<{ deleted: number; version: number | undefined } | undefined> {
    const table = await this.#existingTable();
    if (!table) return undefined;
    // A delete that matches nothing still commits a version (as of LanceDB 0.31), which would
    // make every namespace's snapshot file stale after each ingest's clean-up of old chunks.
    if ((await table.countRows(predicate)) === 0) return { deleted: 0, version: undefined };
    const result = await retryCommitConflicts(this.#retryOptions(signal), () =>
      table.delete(predicate),
    );
    return { deleted: result.numDeletedRows, version: result.version };
  }

  /** LanceDB's exact vector search of one namespace. */
  async search(
    namespace: string,
    vector: number[],
    topK: number,
    signal?: AbortSignal,
  ): Promise<VectorMatch[]> {
    const table = await this.#existingTable();
    if (!table) return [];
    await this.#checkDimensions(table, vector.length);
    const rows = (await table
      .vectorSearch(vector)
      .distanceType('cosine')
      .where(`namespace = ${sqlString(namespace)}`)
      .select(MATCH_COLUMNS)
      .limit(topK)
      .toArray()) as MatchRow[];
    signal?.throwIfAborted();
    // Cosine distance is 1 - cosine similarity; a zero vector has no direction (NaN).
    return rows.map((row) => toMatch(row, Number.isFinite(row._distance) ? 1 - row._distance : 0));
  }

  /** The table's current version; undefined when no process has created the table yet. */
  async version(): Promise<number | undefined> {
    const table = await this.#existingTable();
    return table ? table.version() : undefined;
  }

  /**
   * The namespace exactly as it stood at `version`, or only its size when it holds more than
   * `maxRows` rows. Reads through a handle of its own checked out at that version, so a
   * commit by another process meanwhile cannot slip in.
   */
  async readNamespaceAt(
    namespace: string,
    version: number,
    maxRows: number,
  ): Promise<NamespaceSnapshot> {
    const shared = await this.#existingTable();
    if (!shared) throw new TransientError(`LanceDB table ${this.#options.tableName} is missing`);
    const dimensions = await this.#readDimensions(shared);
    if (dimensions === undefined) {
      throw new TransientError(`LanceDB table ${this.#options.tableName} has no vector column`);
    }
    const table = await this.#connection.openTable(this.#options.tableName);
    try {
      await table.checkout(version);
      const where = `namespace = ${sqlString(namespace)}`;
      if ((await table.countRows(where)) > maxRows) return { version, dimensions, rows: undefined };
      const raw = (await table
        .query()
        .where(where)
        .select(['docId', 'chunk', 'text', 'metadata', 'vector'])
        .toArray()) as {
        docId: string;
        chunk: number;
        text: string;
        metadata: string;
        vector: ArrayLike<number>;
      }[];
      const rows = raw.map((r) =>
        snapshotRow(
          { docId: r.docId, chunk: r.chunk, text: r.text, metadata: r.metadata },
          Float32Array.from(r.vector),
        ),
      );
      return { version, dimensions, rows };
    } finally {
      table.close();
    }
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
    return this.#share(() => this.#openIfCreated());
  }

  #openIfCreated(): Promise<Table | undefined> {
    return this.#connection.openTable(this.#options.tableName).catch((err: unknown) => {
      if (isTableMissing(err)) return undefined;
      throw err;
    });
  }

  /** The table, created with `dimensions`-long vectors if no process has created it yet. */
  async #writableTable(dimensions: number): Promise<Table> {
    const existing = await this.#existingTable();
    if (existing) return existing;
    const { dir, tableName } = this.#options;
    // One creator at a time across the processes (and stores) sharing the folder.
    const created = await this.#share(() =>
      createExclusively(join(dir, `.${tableName}.create.lock`), {
        created: () => this.#openIfCreated(),
        create: () =>
          this.#connection
            .createEmptyTable(tableName, chunkSchema(dimensions), { mode: 'create', existOk: true })
            .catch((err: unknown) => {
              // Created by a process that took no lock: open its table.
              if (isTableExisting(err)) return this.#connection.openTable(tableName);
              throw err;
            }),
      }),
    );
    if (!created) throw new TransientError(`LanceDB table ${tableName} could not be created`);
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
    const { writeAttempts, writeRetryDelayMs, tableName } = this.#options;
    return { attempts: writeAttempts, delayMs: writeRetryDelayMs, signal, what: tableName };
  }

  async #readDimensions(table: Table): Promise<number | undefined> {
    if (this.#dimensions === undefined) {
      const field = (await table.schema()).fields.find((f) => f.name === 'vector');
      this.#dimensions = (field?.type as FixedSizeList | undefined)?.listSize;
    }
    return this.#dimensions;
  }

  async #checkDimensions(table: Table, dimensions: number): Promise<void> {
    checkDimensions(await this.#readDimensions(table), dimensions, this.#options.tableName);
  }
}
