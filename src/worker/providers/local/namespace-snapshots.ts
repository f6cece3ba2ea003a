/** One chunk of a namespace, held in memory with its vector's norm. */
export interface SnapshotRow {
  docId: string;
  chunk: number;
  text: string;
  /** JSON of the chunk's metadata, as the table stores it. */
  metadata: string;
  vector: Float32Array;
  norm: number;
}

/** A namespace as it stood at one version of its table. */
export interface NamespaceSnapshot {
  /** The table version the rows were read at. */
  version: number;
  /** Length of the table's vectors. */
  dimensions: number;
  /** Undefined when the namespace holds more rows than a snapshot may: LanceDB searches it. */
  rows: SnapshotRow[] | undefined;
}

/**
 * Small namespaces held in memory, keyed by the table version they were read at. LanceDB's
 * vector search costs ~2-3 ms of CPU per query whatever the table's size (planning, Arrow
 * conversion); for a namespace of at most the store's in-memory threshold an exact cosine scan
 * over a snapshot is far cheaper and bounded (rows × dimensions multiply-adds). The caller asks
 * with the table's current version, so another process's write is seen as soon as it commits;
 * loads of one namespace and version in flight are shared.
 */
export class NamespaceSnapshots {
  readonly #maxNamespaces: number;
  readonly #snapshots = new Map<string, NamespaceSnapshot>();
  readonly #loading = new Map<string, Promise<NamespaceSnapshot>>();

  constructor(options: { maxNamespaces?: number } = {}) {
    this.#maxNamespaces = options.maxNamespaces ?? 32;
  }

  /** The namespace at `version`: from memory, else from `load` (kept for the next query). */
  async get(
    namespace: string,
    version: number,
    load: () => Promise<NamespaceSnapshot>,
  ): Promise<NamespaceSnapshot> {
    const cached = this.#snapshots.get(namespace);
    if (cached?.version === version) return cached;
    const key = `${namespace}\u0000${version}`;
    let loading = this.#loading.get(key);
    if (!loading) {
      loading = load()
        .then((snapshot) => this.#keep(namespace, snapshot))
        .finally(() => this.#loading.delete(key));
      this.#loading.set(key, loading);
    }
    return loading;
  }

  #keep(namespace: string, snapshot: NamespaceSnapshot): NamespaceSnapshot {
    // Reading a version the table has since left behind must not replace a newer snapshot.
    const current = this.#snapshots.get(namespace);
    if (!current || current.version <= snapshot.version) {
      this.#snapshots.delete(namespace);
      this.#snapshots.set(namespace, snapshot);
      if (this.#snapshots.size > this.#maxNamespaces) {
        const oldest = this.#snapshots.keys().next().value;
        if (oldest !== undefined) this.#snapshots.delete(oldest);
      }
    }
    return snapshot;
  }
}

/** A snapshot row of `vector`, its norm computed once. */
export function snapshotRow(
  row: Omit<SnapshotRow, 'norm' | 'vector'>,
  vector: Float32Array,
): SnapshotRow {
  return { ...row, vector, norm: norm(vector) };
}

/** The `topK` rows most similar to `query` by cosine, best first, with their similarity. */
export function cosineTopK(
  rows: SnapshotRow[],
  query: number[],
  topK: number,
): { row: SnapshotRow; score: number }[] {
  // Only the query's non-zero components (a hashing embedding of a question has a few dozen of
  // its 1024), as float32 like the stored vectors: the zeros add nothing to a dot product or a
  // norm, so the scores are the same, at a fraction of the multiply-adds per row.
  const at: number[] = [];
  const q: number[] = [];
  for (let i = 0; i < query.length; i += 1) {
    const x = Math.fround(query[i]!);
    if (x !== 0) {
      at.push(i);
      q.push(x);
    }
  }
  const qNorm = norm(q);
  const scored = rows.map((row) => {
    let dot = 0;
    const v = row.vector;
    for (let j = 0; j < at.length && at[j]! < v.length; j += 1) dot += v[at[j]!]! * q[j]!;
    const denominator = row.norm * qNorm;
    // A zero vector has no direction: similarity 0, as LanceDB's NaN distance is reported.
    return { row, score: denominator > 0 ? dot / denominator : 0 };
  });
  scored.sort((a, b) => b.score - a.score);
  return scored.slice(0, topK);
}

function norm(v: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < v.length; i += 1) sum += v[i]! * v[i]!;
  return Math.sqrt(sum);
}
