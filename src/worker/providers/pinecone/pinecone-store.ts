import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash } from 'node:crypto';

import {
  type Index,
  Pinecone,
  type PineconeRecord,
  type RecordMetadata,
} from '@pinecone-database/pinecone';

import {
  chunkId,
  type VectorMatch,
  type VectorRecord,
  type VectorStorePort,
} from '../../../shared/ports.ts';

/** Options of {@link PineconeVectorStore}. */
export interface PineconeVectorStoreOptions {
  /** Pinecone API key; sent as `Api-Key`, never logged. */
  apiKey: string;
  /** Index name. */
  index: string;
  /** Index host; saves the control-plane describe call (and points tests at a fake). @defaultValue looked up by name */
  host?: string;
  /** Control plane URL. @defaultValue Pinecone's (`https://api.pinecone.io`) */
  controllerHostUrl?: string;
  /** Vectors per upsert request; Pinecone recommends at most 100. @defaultValue 100 */
  upsertBatchSize?: number;
  /** Bytes per upsert request, under Pinecone's 2 MB limit. @defaultValue 2 MB minus 64 KB of headroom */
  maxRequestBytes?: number;
}

const DEFAULTS = {
  upsertBatchSize: 100,
  maxRequestBytes: 2 * 1024 * 1024 - 64 * 1024,
} satisfies Partial<PineconeVectorStoreOptions>;

/** Pinecone rejects ids longer than this many bytes. */
const MAX_ID_BYTES = 512;
/** Ids per delete request (Pinecone's limit). */
const DELETE_BATCH = 1000;
/** Ids per list page (Pinecone's maximum). */
const LIST_PAGE = 100;
/** Room for `#` and the chunk number when deciding whether a docId must be hashed. */
const CHUNK_SUFFIX_BYTES = 1 + 16;
/** Metadata keys the store owns; the record's own metadata cannot override them. */
const RESERVED = ['docId', 'chunk', 'text'] as const;

/**
 * The vector store port on Pinecone (serverless or pod index, cosine metric), one Pinecone
 * namespace per askq namespace. Vector ids are `docId#chunk` so re-ingesting overwrites and
 * `deleteChunksFrom` can list a document's chunks by prefix. The SDK runs with
 * `maxRetries: 0`: the queue owns retries.
 */
export class PineconeVectorStore implements VectorStorePort {
  readonly provider = 'pinecone';
  readonly indexName: string;
  readonly serverAddress: string | undefined;
  readonly #index: Index<RecordMetadata>;
  readonly #namespaces = new Map<string, Index<RecordMetadata>>();
  readonly #signals = new AsyncLocalStorage<AbortSignal | undefined>();
  readonly #batchSize: number;
  readonly #maxRequestBytes: number;

  constructor(options: PineconeVectorStoreOptions) {
    if (!options.apiKey) {
      throw new TypeError('PineconeVectorStore needs an apiKey (PINECONE_API_KEY)');
    }
    if (!options.index) throw new TypeError('PineconeVectorStore needs an index (PINECONE_INDEX)');
    this.indexName = options.index;
    this.serverAddress = options.host ? safeHost(options.host) : undefined;
    this.#batchSize = options.upsertBatchSize ?? DEFAULTS.upsertBatchSize;
    this.#maxRequestBytes = options.maxRequestBytes ?? DEFAULTS.maxRequestBytes;
    const signals = this.#signals;
    const client = new Pinecone({
      apiKey: options.apiKey,
      maxRetries: 0,
      ...(options.controllerHostUrl ? { controllerHostUrl: options.controllerHostUrl } : {}),
      // The SDK's methods take no AbortSignal; its documented `fetchApi` hook is where the
      // signal of the current call (carried in an AsyncLocalStorage) reaches the request.
      fetchApi: (url, init) => {
        const signal = signals.getStore();
        if (!signal) return fetch(url, init);
        const merged = init?.signal ? AbortSignal.any([init.signal, signal]) : signal;
        return fetch(url, { ...init, signal: merged });
      },
    });
    this.#index = client.index({
      name: options.index,
      ...(options.host ? { host: options.host } : {}),
    });
  }

  /** Inserts or replaces records, in requests of at most 100 vectors and ~2 MB. */
  async upsert(namespace: string, records: VectorRecord[], signal?: AbortSignal): Promise<void> {
    if (records.length === 0) return;
    const index = this.#namespace(namespace);
    for (const batch of this.#batches(records.map(toPineconeRecord))) {
      await this.#call(signal, () => index.upsert({ records: batch }));
    }
  }

  /** The `topK` nearest chunks, best first; `score` is Pinecone's (cosine) score. */
  async query(
    namespace: string,
    vector: number[],
    topK: number,
    signal?: AbortSignal,
  ): Promise<VectorMatch[]> {
    const index = this.#namespace(namespace);
    const result = await this.#call(signal, () =>
      index.query({ vector, topK, includeMetadata: true, includeValues: false }),
    );
    return result.matches.map((m) => toMatch(m.id, m.score ?? 0, m.metadata));
  }

  /** Lists the document's ids by prefix and deletes those with a chunk index `>= fromChunk`. */
  async deleteChunksFrom(
    namespace: string,
    docId: string,
    fromChunk: number,
    signal?: AbortSignal,
  ): Promise<number> {
    const index = this.#namespace(namespace);
    const prefix = idPrefix(docId);
    const doomed: string[] = [];
    let paginationToken: string | undefined;
    do {
      const token = paginationToken;
      const page = await this.#call(signal, () =>
        index.listPaginated({
          prefix,
          limit: LIST_PAGE,
          ...(token ? { paginationToken: token } : {}),
        }),
      );
      for (const { id } of page.vectors ?? []) {
        const rest = id?.slice(prefix.length) ?? '';
        // `a#1` lists under `a#` but so would another document's `a#b#1`: only digits match.
        if (/^\d+$/.test(rest) && Number(rest) >= fromChunk) doomed.push(id!);
      }
      paginationToken = page.pagination?.next;
    } while (paginationToken);
    for (let i = 0; i < doomed.length; i += DELETE_BATCH) {
      const ids = doomed.slice(i, i + DELETE_BATCH);
      await this.#call(signal, () => index.deleteMany({ ids }));
    }
    return doomed.length;
  }

  /** Nothing to release: the SDK holds no connections of its own (fetch's pool is global). */
  async close(): Promise<void> {}

  #namespace(namespace: string): Index<RecordMetadata> {
    let index = this.#namespaces.get(namespace);
    if (!index) {
      index = this.#index.namespace(namespace);
      this.#namespaces.set(namespace, index);
    }
    return index;
  }

  /** Runs one SDK call with `signal` visible to the fetch hook. */
  #call<T>(signal: AbortSignal | undefined, run: () => Promise<T>): Promise<T> {
    signal?.throwIfAborted();
    return this.#signals.run(signal, run);
  }

  /** Splits records into requests under both the count and the size limit. */
  *#batches(
    records: PineconeRecord<RecordMetadata>[],
  ): Generator<PineconeRecord<RecordMetadata>[]> {
    let batch: PineconeRecord<RecordMetadata>[] = [];
    let bytes = 0;
    for (const record of records) {
      const size = Buffer.byteLength(JSON.stringify(record)) + 1;
      if (
        batch.length > 0 &&
        (batch.length >= this.#batchSize || bytes + size > this.#maxRequestBytes)
      ) {
        yield batch;
        batch = [];
        bytes = 0;
      }
      batch.push(record);
      bytes += size;
    }
    if (batch.length > 0) yield batch;
  }
}

/**
 * The id prefix of a document's chunks: `docId#`, or a stable hash of the docId when
 * `docId#<chunk>` could exceed Pinecone's 512-byte id limit. Decided per document, not per
 * chunk, so every chunk of a document shares one listable prefix.
 */
export function idPrefix(docId: string): string {
  if (Buffer.byteLength(docId) + CHUNK_SUFFIX_BYTES <= MAX_ID_BYTES) return `${docId}#`;
  return `sha256:${createHash('sha256').update(docId).digest('hex')}#`;
}

/** The Pinecone id of a chunk: {@link chunkId} unless the docId is too long to fit. */
export function vectorId(docId: string, chunk: number): string {
  const prefix = idPrefix(docId);
  return prefix === `${docId}#` ? chunkId(docId, chunk) : `${prefix}${chunk}`;
}

function toPineconeRecord(record: VectorRecord): PineconeRecord<RecordMetadata> {
  return {
    id: vectorId(record.docId, record.chunk),
    values: record.values,
    // Flat string values so they stay filterable; the store's own keys win a collision.
    metadata: { ...record.metadata, docId: record.docId, chunk: record.chunk, text: record.text },
  };
}

function toMatch(id: string, score: number, metadata: RecordMetadata | undefined): VectorMatch {
  const rest: Record<string, string> = {};
  for (const [key, value] of Object.entries(metadata ?? {})) {
    const reserved = (RESERVED as readonly string[]).includes(key);
    if (!reserved && typeof value === 'string') rest[key] = value;
  }
  // Vectors written by something else may lack our metadata: fall back to parsing the id.
  const sep = id.lastIndexOf('#');
  const docId =
    typeof metadata?.docId === 'string' ? metadata.docId : sep >= 0 ? id.slice(0, sep) : id;
  const chunk =
    metadata?.chunk !== undefined ? Number(metadata.chunk) : Number(id.slice(sep + 1)) || 0;
  return {
    docId,
    chunk,
    text: typeof metadata?.text === 'string' ? metadata.text : '',
    score,
    ...(Object.keys(rest).length > 0 ? { metadata: rest } : {}),
  };
}

function safeHost(host: string): string {
  try {
    return new URL(host.includes('://') ? host : `https://${host}`).hostname;
  } catch {
    return host;
  }
}
