import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { VectorRecord } from '../../../../src/shared/ports.ts';
import { HashingEmbeddings } from '../../../../src/worker/providers/local/hashing-embeddings.ts';
import { LanceDbVectorStore } from '../../../../src/worker/providers/local/lancedb-store.ts';
import { CORPUS } from './corpus.ts';

/**
 * The in-memory search of small namespaces must answer exactly what LanceDB's own vector search
 * answers: the same chunks, in the same order, with the same similarity.
 */
describe('in-memory search of small namespaces', () => {
  const embeddings = new HashingEmbeddings({ dimensions: 256 });
  let dir: string;
  let inMemory: LanceDbVectorStore;
  let lance: LanceDbVectorStore;
  let tiny: LanceDbVectorStore;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'askq-snapshots-'));
    const open = (inMemoryMaxRows: number) =>
      LanceDbVectorStore.open({ dir, embeddingId: 'snapshots-256', inMemoryMaxRows });
    inMemory = await open(2000);
    lance = await open(0);
    tiny = await open(2); // smaller than the namespace: LanceDB searches it
    const vectors = await embeddings.embedDocuments(CORPUS.map((d) => d.text));
    const records: VectorRecord[] = CORPUS.map((d, i) => ({
      id: `${d.id}#0`,
      docId: d.id,
      chunk: 0,
      text: d.text,
      values: vectors[i]!,
      metadata: { lang: 'x' },
    }));
    await lance.upsert('ns', records);
  });

  afterAll(async () => {
    for (const s of [inMemory, lance, tiny]) await s.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('returns what LanceDB returns, for every corpus question', async () => {
    for (const question of ['什么是 LCEL？', 'How does BullMQ retry jobs?', 'vector database']) {
      const vector = await embeddings.embedQuery(question);
      const expected = await lance.query('ns', vector, 3);
      const got = await inMemory.query('ns', vector, 3);
      expect(got.map((m) => m.docId)).toEqual(expected.map((m) => m.docId));
      got.forEach((m, i) => expect(m.score).toBeCloseTo(expected[i]!.score, 5));
      expect(got[0]?.metadata).toEqual({ lang: 'x' });
      const big = await tiny.query('ns', vector, 3);
      expect(big.map((m) => m.docId)).toEqual(expected.map((m) => m.docId));
    }
  });

  it('sees writes from another store (process) at once, and keeps namespaces apart', async () => {
    const vector = await embeddings.embedQuery('a brand new chunk about zebras');
    const before = await inMemory.query('ns', vector, 50);
    await lance.upsert('ns', [
      {
        id: 'zebra#0',
        docId: 'zebra',
        chunk: 0,
        text: 'a brand new chunk about zebras',
        values: vector,
      },
    ]);
    const after = await inMemory.query('ns', vector, 50);
    expect(after).toHaveLength(before.length + 1);
    expect(after[0]?.docId).toBe('zebra');
    expect(await inMemory.query('other', vector, 5)).toEqual([]);
  });
});
