import { mkdtemp, rm, writeFile } from 'node:fs/promises';
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
    redisUrl: h.config.REDIS_URL,
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
});
