import { execFile } from 'node:child_process';
import { access, mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { TransientError, ValidationError } from '../../../../src/shared/errors.ts';
import { chunkId, type VectorRecord } from '../../../../src/shared/ports.ts';
import { HashingEmbeddings } from '../../../../src/worker/providers/local/hashing-embeddings.ts';
import { LanceDbVectorStore } from '../../../../src/worker/providers/local/lancedb-store.ts';
import {
  createExclusively,
  retryCommitConflicts,
  sqlString,
  tableNameFor,
} from '../../../../src/worker/providers/local/lancedb-table.ts';
import { release, track } from '../../../support/resources.ts';
import { CORPUS } from './corpus.ts';

const run = promisify(execFile);
const storeUrl = new URL('../../../../src/worker/providers/local/lancedb-store.ts', import.meta.url)
  .href;

const embeddings = new HashingEmbeddings({ dimensions: 256 });
const embeddingId = embeddings.embeddingId;

let dir: string;
const stores: LanceDbVectorStore[] = [];

async function openStore(id = embeddingId): Promise<LanceDbVectorStore> {
  const store = track(await LanceDbVectorStore.open({ dir, embeddingId: id }), 'lancedb store');
  stores.push(store);
  return store;
}

async function records(docs: readonly { id: string; text: string }[]): Promise<VectorRecord[]> {
  const vectors = await embeddings.embedDocuments(docs.map((d) => d.text));
  return docs.map((d, i) => ({
    id: chunkId(d.id, 0),
    docId: d.id,
    chunk: 0,
    text: d.text,
    values: vectors[i]!,
    metadata: { source: d.id },
  }));
}

/** Chunks 0..n-1 of one document with distinct texts. */
async function chunksOf(docId: string, n: number, from = 0): Promise<VectorRecord[]> {
  const texts = Array.from({ length: n }, (_, i) => `${docId} part ${from + i} about queues`);
  const vectors = await embeddings.embedDocuments(texts);
  return texts.map((text, i) => ({
    id: chunkId(docId, from + i),
    docId,
    chunk: from + i,
    text,
    values: vectors[i]!,
  }));
}

async function countAll(store: LanceDbVectorStore, namespace: string): Promise<number> {
  const probe = await embeddings.embedQuery('queues');
  return (await store.query(namespace, probe, 10_000)).length;
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'askq-lancedb-'));
});

afterEach(async () => {
  for (const store of stores.splice(0)) {
    await store.close();
    release(store);
  }
  await rm(dir, { recursive: true, force: true });
});

describe('LanceDbVectorStore', () => {
  it('returns [] before anything was ingested', async () => {
    const store = await openStore();
    expect(store.provider).toBe('lancedb');
    expect(await store.query('default', await embeddings.embedQuery('LCEL'), 5)).toEqual([]);
    expect(await store.deleteChunksFrom('default', 'a.md', 0)).toBe(0);
  });

  it('finds the right document first, with a cosine similarity score', async () => {
    const store = await openStore();
    await store.upsert('default', await records(CORPUS));
    const matches = await store.query('default', await embeddings.embedQuery('什么是 LCEL？'), 3);
    expect(matches).toHaveLength(3);
    expect(matches[0]).toMatchObject({
      docId: 'lcel-zh.md',
      chunk: 0,
      metadata: { source: 'lcel-zh.md' },
    });
    expect(matches[0]!.text).toBe(CORPUS.find((d) => d.id === 'lcel-zh.md')!.text);
    const scores = matches.map((m) => m.score);
    expect(scores).toEqual([...scores].sort((a, b) => b - a));
    expect(scores[0]).toBeGreaterThan(0);
    expect(scores[0]).toBeLessThanOrEqual(1);

    const self = await store.query('default', (await records([CORPUS[2]]))[0]!.values, 1);
    expect(self[0]!.docId).toBe(CORPUS[2].id);
    expect(self[0]!.score).toBeCloseTo(1, 5);
  });

  it('is idempotent: upserting the same records twice keeps one row each, with the new text', async () => {
    const store = await openStore();
    const batch = await records(CORPUS);
    await store.upsert('default', batch);
    await store.upsert('default', batch);
    expect(await store.query('default', batch[0]!.values, 100)).toHaveLength(CORPUS.length);

    await store.upsert('default', [{ ...batch[0]!, text: 'edited' }]);
    const [first] = await store.query('default', batch[0]!.values, 1);
    expect(first).toMatchObject({ docId: batch[0]!.docId, text: 'edited' });
    expect(await store.query('default', batch[0]!.values, 100)).toHaveLength(CORPUS.length);
  });

  it('keeps namespaces apart, including ones with quotes, backslashes and Chinese', async () => {
    const store = await openStore();
    const odd = `it's "ours" \\ 中文 ' OR '1'='1`;
    await store.upsert('a', await records(CORPUS.slice(0, 2)));
    await store.upsert(odd, await records(CORPUS.slice(2, 5)));
    const probe = await embeddings.embedQuery('vector database');
    expect((await store.query('a', probe, 10)).map((m) => m.docId).sort()).toEqual(
      CORPUS.slice(0, 2)
        .map((d) => d.id)
        .sort(),
    );
    expect(await store.query(odd, probe, 10)).toHaveLength(3);
    expect(await store.query('b', probe, 10)).toEqual([]);
    expect(await store.query("it's", probe, 10)).toEqual([]);
  });

  it('deletes the chunks of one document from an index on, and says how many', async () => {
    const store = await openStore();
    const docId = `Tom's "notes"/向量.md`;
    await store.upsert('n', await chunksOf(docId, 6));
    await store.upsert('n', await chunksOf('other.md', 6));
    await store.upsert('m', await chunksOf(docId, 6));

    expect(await store.deleteChunksFrom('n', docId, 4)).toBe(2);
    const left = (await store.query('n', await embeddings.embedQuery('queues'), 100)).filter(
      (m) => m.docId === docId,
    );
    expect(left.map((m) => m.chunk).sort()).toEqual([0, 1, 2, 3]);
    expect(await countAll(store, 'n')).toBe(10);
    expect(await countAll(store, 'm')).toBe(6);
    expect(await store.deleteChunksFrom('n', docId, 4)).toBe(0);
    await expect(store.deleteChunksFrom('n', docId, 1.5)).rejects.toThrow(ValidationError);
  });

  it('keeps each embedding space in its own table', async () => {
    const local = await openStore('local-hashing-v1-256');
    const other = await openStore('openai/text-embedding-3-small:256');
    await local.upsert('default', await records(CORPUS));
    expect(await other.query('default', await embeddings.embedQuery('LCEL'), 5)).toEqual([]);
    expect(tableNameFor('local-hashing-v1-1024')).toBe('chunks_local-hashing-v1-1024');
    expect(tableNameFor('a/b')).not.toBe(tableNameFor('a_b'));
    expect(tableNameFor('a/b')).toMatch(/^chunks_a_b_[0-9a-f]{8}$/);
    expect(sqlString(`it's`)).toBe(`'it''s'`);
  });

  it('refuses vectors of another size than the table holds', async () => {
    const store = await openStore();
    await store.upsert('default', await records(CORPUS.slice(0, 1)));
    await expect(store.query('default', [1, 0, 0], 3)).rejects.toThrow(ValidationError);
    const [record] = await records(CORPUS.slice(1, 2));
    await expect(
      store.upsert('default', [{ ...record!, values: record!.values.slice(0, 10) }]),
    ).rejects.toThrow(ValidationError);
  });

  it('lets two stores on one folder create the table and write at the same time', async () => {
    const [a, b] = await Promise.all([openStore(), openStore()]);
    const same = await chunksOf('same.md', 10);
    await Promise.all([
      a.upsert('default', same),
      b.upsert('default', same),
      a.upsert('default', await chunksOf('a.md', 20)),
      b.upsert('default', await chunksOf('b.md', 20)),
      a.upsert('default', await chunksOf('a.md', 20, 20)),
      b.upsert('default', await chunksOf('b.md', 20, 20)),
      b.upsert('default', await chunksOf('a.md', 10)),
    ]);
    // No row lost, none doubled (same.md came from both), and each store sees the other's writes.
    expect(await countAll(a, 'default')).toBe(90);
    expect(await countAll(b, 'default')).toBe(90);
    expect((await readdir(dir)).filter((f) => f.endsWith('.lance'))).toHaveLength(1);
  });

  it('lets two worker processes write the same folder without losing rows', async () => {
    const script = `
      const [url, dir, embeddingId, name] = process.argv.slice(1);
      const { LanceDbVectorStore } = await import(url);
      const store = await LanceDbVectorStore.open({ dir, embeddingId });
      for (let batch = 0; batch < 5; batch++) {
        const records = Array.from({ length: 10 }, (_, i) => {
          const chunk = batch * 10 + i;
          const values = Array.from({ length: 256 }, (_, d) => Math.sin(chunk + d + name.length));
          return { id: name + '#' + chunk, docId: name, chunk, text: name + ' queues ' + chunk, values };
        });
        await store.upsert('default', records);
      }
      // Both workers also ingest the same document, as a re-run of a stalled job would.
      const shared = Array.from({ length: 10 }, (_, chunk) => ({
        id: 'shared.md#' + chunk, docId: 'shared.md', chunk, text: 'shared queues ' + chunk,
        values: Array.from({ length: 256 }, (_, d) => Math.cos(chunk + d)),
      }));
      await store.upsert('default', shared);
      await store.close();
    `;
    const worker = (name: string) =>
      run(process.execPath, [
        '--input-type=module',
        '-e',
        script,
        storeUrl,
        dir,
        embeddingId,
        name,
      ]);
    await Promise.all([worker('first.md'), worker('second-worker.md')]);

    const store = await openStore();
    const rows = await store.query('default', await embeddings.embedQuery('queues'), 1000);
    expect(rows).toHaveLength(110);
    expect(rows.filter((r) => r.docId === 'first.md')).toHaveLength(50);
    expect(rows.filter((r) => r.docId === 'shared.md')).toHaveLength(10);
  });

  it('rejects with the reason of an aborted signal', async () => {
    const store = await openStore();
    const reason = new Error('deadline');
    const signal = AbortSignal.abort(reason);
    await expect(store.upsert('default', await records(CORPUS), signal)).rejects.toBe(reason);
    await expect(store.query('default', [1], 1, signal)).rejects.toBe(reason);
    await expect(store.deleteChunksFrom('default', 'x', 0, signal)).rejects.toBe(reason);
    expect(await store.query('default', await embeddings.embedQuery('LCEL'), 1)).toEqual([]);
  });
});

describe('retryCommitConflicts', () => {
  const conflict = () => new Error('Retryable commit conflict for version 7: concurrent merge');

  it('retries writes that lose a commit race', async () => {
    let calls = 0;
    const result = await retryCommitConflicts({ attempts: 5, delayMs: 1, what: 't' }, () => {
      calls++;
      return calls < 3 ? Promise.reject(conflict()) : Promise.resolve('done');
    });
    expect(result).toBe('done');
    expect(calls).toBe(3);
  });

  it('gives up after the attempts with a transient error that keeps the cause', async () => {
    let calls = 0;
    const err = await retryCommitConflicts({ attempts: 2, delayMs: 1, what: 'chunks_x' }, () => {
      calls++;
      return Promise.reject(conflict());
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransientError);
    expect((err as Error).message).toContain('chunks_x');
    expect((err as Error).cause).toBeInstanceOf(Error);
    expect(calls).toBe(2);
  });

  it('does not retry other errors', async () => {
    let calls = 0;
    const boom = new Error('disk full');
    await expect(
      retryCommitConflicts({ attempts: 5, delayMs: 1, what: 't' }, () => {
        calls++;
        return Promise.reject(boom);
      }),
    ).rejects.toBe(boom);
    expect(calls).toBe(1);
  });
});

describe('createExclusively', () => {
  let tmp: string;
  beforeEach(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'askq-create-lock-'));
  });
  afterEach(async () => {
    await rm(tmp, { recursive: true, force: true });
  });
  const exists = (path: string) =>
    access(path).then(
      () => true,
      () => false,
    );

  it('creates once when several callers race, and each gets what was created', async () => {
    const lock = join(tmp, '.t.create.lock');
    let made: string | undefined;
    let creates = 0;
    const entered = Promise.withResolvers<void>();
    const finish = Promise.withResolvers<void>();
    const call = () =>
      createExclusively(lock, {
        created: () => Promise.resolve(made),
        create: async () => {
          creates += 1;
          entered.resolve();
          await finish.promise;
          made = 'table';
          return made;
        },
        pollMs: 1,
      });
    const calls = [call(), call(), call()];
    await entered.promise;
    expect(await exists(lock)).toBe(true);
    finish.resolve();
    expect(await Promise.all(calls)).toEqual(['table', 'table', 'table']);
    expect(creates).toBe(1);
    expect(await exists(lock)).toBe(false);
  });

  it('waits while another holds the lock and takes what it created', async () => {
    const lock = join(tmp, '.t.create.lock');
    await writeFile(lock, '');
    let looks = 0;
    let creates = 0;
    const result = await createExclusively(lock, {
      // The holder finishes between this caller's first and second look.
      created: () => Promise.resolve((looks += 1) >= 2 ? 'theirs' : undefined),
      create: () => Promise.resolve(`ours ${(creates += 1)}`),
      pollMs: 1,
    });
    expect(result).toBe('theirs');
    expect(creates).toBe(0);
    expect(await exists(lock)).toBe(true); // the holder's to remove
  });

  it('takes over a lock whose holder died while creating', async () => {
    const lock = join(tmp, '.t.create.lock');
    await writeFile(lock, '');
    const minuteAgo = new Date(Date.now() - 60_000);
    await utimes(lock, minuteAgo, minuteAgo);
    const result = await createExclusively(lock, {
      created: () => Promise.resolve(undefined),
      create: () => Promise.resolve('ours'),
      staleMs: 30_000,
    });
    expect(result).toBe('ours');
    expect(await exists(lock)).toBe(false);
  });
});
