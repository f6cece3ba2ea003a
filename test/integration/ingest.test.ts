import { mkdir, mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ingest } from '../../src/producer/ingest.ts';
import { type Harness, startHarness } from '../support/worker-harness.ts';

/** Ingestion through the queue into the real local store (hashing embeddings + LanceDB). */
describe('ingest through the queue on the embedded default', () => {
  let h: Harness;
  let store: string;
  let docs: string;
  const opts = () => ({
    redis: h.config.REDIS_URL,
    prefix: h.config.ASKQ_PREFIX,
    chunkSize: 60,
    chunkOverlap: 0,
    batchSize: 4,
  });
  const count = async (namespace = 'default') =>
    (
      await h.worker.ports.store.query(
        namespace,
        await h.worker.ports.embeddings.embedQuery('x'),
        50,
      )
    ).length;

  beforeAll(async () => {
    store = await mkdtemp(join(tmpdir(), 'askq-ingest-store-'));
    docs = await mkdtemp(join(tmpdir(), 'askq-ingest-docs-'));
    h = await startHarness({ env: { ASKQ_LOCAL_STORE_DIR: store } });
  });

  afterAll(async () => {
    await h.close();
    await rm(store, { recursive: true, force: true });
    await rm(docs, { recursive: true, force: true });
  });

  it('chunks, batches and upserts; re-ingesting changes nothing; a shrunk document loses stale chunks', async () => {
    const long = Array.from(
      { length: 8 },
      (_, i) => `Sentence number ${i} talks about queues.`,
    ).join(' ');
    await writeFile(join(docs, 'long.md'), long);
    await writeFile(
      join(docs, 'zh.txt'),
      '向量数据库保存文本的向量。检索时按相似度返回最相近的片段。',
    );
    await writeFile(join(docs, 'empty.md'), '');
    const progress: number[] = [];
    const first = await ingest([docs], { ...opts(), onProgress: (p) => progress.push(p.done) });
    expect(first.documents).toBe(2);
    expect(first.chunks).toBeGreaterThan(4); // more than one batch
    expect(first.upserted).toBe(first.chunks);
    expect(first.skipped).toEqual([{ where: join(docs, 'empty.md'), reason: 'empty file' }]);
    expect(first.failed).toEqual([]);
    expect(progress.at(-1)).toBe(first.chunks);
    expect(await count()).toBe(first.chunks);

    const again = await ingest([docs], opts());
    expect(again.chunks).toBe(first.chunks);
    expect(await count()).toBe(first.chunks);

    await writeFile(join(docs, 'long.md'), 'Now a short document about queues.');
    const shrunk = await ingest([docs], opts());
    expect(shrunk.deleted).toBeGreaterThan(0);
    expect(await count()).toBe(shrunk.chunks);
  });

  it('keeps namespaces apart and answers from the ingested text', async () => {
    await writeFile(join(docs, 'long.md'), 'Breakers open after repeated failures.');
    await ingest([join(docs, 'long.md')], { ...opts(), namespace: 'tenant-a' });
    expect(await count('tenant-a')).toBe(1);
    const { id } = await h.client.ask({
      question: 'When do breakers open?',
      namespace: 'tenant-a',
    });
    const result = await h.client.waitForAnswer(id, { timeoutMs: 10_000 });
    expect(result.sources).toHaveLength(1);
    expect(result.sources[0]).toMatchObject({ id: 'long.md', chunk: 0 });
    expect(result.answer).toContain('Breakers open after repeated failures');
  });

  it('syncs a folder into LanceDB: the chunks of a gone file leave the store and its in-memory snapshot', async () => {
    const folder = join(docs, 'synced');
    await mkdir(folder);
    await writeFile(join(folder, 'stays.md'), 'Queues hold jobs until a worker takes them.');
    await writeFile(
      join(folder, 'goes.md'),
      'Breakers open after repeated failures of a dependency.',
    );
    const sync = () => ingest([folder], { ...opts(), namespace: 'synced', sync: true });
    const first = await sync();
    expect(first).toMatchObject({ documents: 2, unchanged: 0, removed: 0 });
    // A query loads the namespace's snapshot, so the deletion must refresh it.
    expect(await count('synced')).toBe(first.chunks);
    await unlink(join(folder, 'goes.md'));
    const second = await sync();
    expect(second).toMatchObject({ documents: 0, unchanged: 1, removed: 1 });
    expect(second.deleted).toBeGreaterThan(0);
    const vector = await h.worker.ports.embeddings.embedQuery('breakers');
    const left = await h.worker.ports.store.query('synced', vector, 50);
    expect(left.map((m) => m.docId)).toEqual(['stays.md']);
    // Other chunking settings change what a file yields: the next sync re-ingests it.
    const rechunked = await ingest([folder], {
      ...opts(),
      chunkSize: 120,
      namespace: 'synced',
      sync: true,
    });
    expect(rechunked).toMatchObject({ documents: 1, unchanged: 0, removed: 0 });
  });
});
