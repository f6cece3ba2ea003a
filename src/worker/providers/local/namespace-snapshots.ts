import type { Table } from '@lancedb/lancedb';

import { sqlString } from './lancedb-table.ts';

/** One chunk of a namespace, held in memory with its vector's norm. */
export interface SnapshotRow {
  docId: string;
  chunk: number;
  text: string;
  metadata: string;
  vector: Float32Array;
  norm: number;
}

interface Snapshot {
  version: number;
  /** Undefined when the namespace holds more rows than a snapshot may. */
  rows: SnapshotRow[] | undefined;
}

/**
 * Small namespaces held in memory, keyed by the table version they were read at. LanceDB's
 * vector search costs ~2-3 ms of CPU per query whatever the table's size (planning, Arrow
 * conversion); for a namespace of at most `maxRows` chunks an exact cosine scan over a
 * snapshot is far cheaper and bounded (`maxRows` × dimensions multiply-adds). Each query first
 * asks LanceDB for the table's version (microseconds), so another process's ingest is seen as
 * soon as it commits; a namespace larger than `maxRows` is searched by LanceDB as before.
 */
export class NamespaceSnapshots {
  readonly #maxRows: number;
  readonly #maxNamespaces: number;
  readonly #snapshots = new Map<string, Snapshot>();
  readonly #loading = new Map<string, Promise<Snapshot>>();
  /** The table-version read in flight, shared by the queries that arrive meanwhile. */
  readonly #versionReads = new WeakMap<Table, Promise<number>>();

  constructor(options: { maxRows: number; maxNamespaces?: number }) {
    this.#maxRows = options.maxRows;
    this.#maxNamespaces = options.maxNamespaces ?? 32;
  }

  /** The namespace's rows at the table's current version, or undefined if it is too large. */
  async rows(table: Table, namespace: string): Promise<SnapshotRow[] | undefined> {
    if (this.#maxRows <= 0) return undefined;
    const version = await this.#version(table);
    const cached = this.#snapshots.get(namespace);
    if (cached?.version === version) return cached.rows;
    const key = `${namespace}\u0000${version}`;
    let loading = this.#loading.get(key);
    if (!loading) {
      loading = this.#load(table, namespace, version).finally(() => this.#loading.delete(key));
      this.#loading.set(key, loading);
    }
    return (await loading).rows;
  }

  async #load(table: Table, namespace: string, version: number): Promise<Snapshot> {
    const where = `namespace = ${sqlString(namespace)}`;
    const count = await table.countRows(where);
    let rows: SnapshotRow[] | undefined;
    if (count <= this.#maxRows) {
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
      rows = raw.map((r) => {
        const vector = Float32Array.from(r.vector);
        return {
          docId: r.docId,
          chunk: r.chunk,
          text: r.text,
          metadata: r.metadata,
          vector,
          norm: norm(vector),
        };
      });
    }
    const snapshot = { version, rows };
    // Reading a version the table has since left behind must not replace a newer snapshot.
    const current = this.#snapshots.get(namespace);
    if (!current || current.version <= version) {
      this.#snapshots.delete(namespace);
      this.#snapshots.set(namespace, snapshot);
      if (this.#snapshots.size > this.#maxNamespaces) {
        const oldest = this.#snapshots.keys().next().value;
        if (oldest !== undefined) this.#snapshots.delete(oldest);
      }
    }
    return snapshot;
  }

  /**
   * The table's current version. Queries that arrive while a read is in flight share it
   * rather than each crossing into LanceDB (a fixed native cost per call, ~2 % of an eval
   * run's CPU at concurrency 100); the answer is never older than that one read.
   */
  #version(table: Table): Promise<number> {
    let read = this.#versionReads.get(table);
    if (!read) {
      read = table.version().finally(() => this.#versionReads.delete(table));
      this.#versionReads.set(table, read);
    }
    return read;
  }

  /** Drops every snapshot (after this process wrote: the next read reloads). */
  clear(): void {
    this.#snapshots.clear();
  }
}

/** The `topK` rows most similar to `query` by cosine, best first, with their similarity. */
export function cosineTopK(
  rows: SnapshotRow[],
  query: number[],
  topK: number,
): { row: SnapshotRow; score: number }[] {
  const q = Float32Array.from(query);
  const qNorm = norm(q);
  const scored = rows.map((row) => {
    let dot = 0;
    const v = row.vector;
    const n = Math.min(v.length, q.length);
    for (let i = 0; i < n; i += 1) dot += v[i]! * q[i]!;
    const denominator = row.norm * qNorm;
    // A zero vector has no direction: similarity 0, as LanceDB's NaN distance is reported.
    return { row, score: denominator > 0 ? dot / denominator : 0 };
  });
  scored.sort((a, b) => b.score - a.score);
  return scored.slice(0, topK);
}

function norm(v: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < v.length; i += 1) sum += v[i]! * v[i]!;
  return Math.sqrt(sum);
}
