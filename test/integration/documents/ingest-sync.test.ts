import { mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { IngestSummary } from '../../../src/producer/ingest.ts';
import { manifestKey } from '../../../src/producer/sync-manifest.ts';
import { corpusVersionKey } from '../../../src/worker/answer-cache.ts';
import { type FakeOpenAI, startFakeOpenAI } from '../../support/fake-openai-server.ts';
import { type FakePinecone, startFakePinecone } from '../../support/fake-pinecone-server.ts';
import { runCli } from '../../support/run-cli.ts';
import { type Harness, startHarness } from '../../support/worker-harness.ts';

/**
 * `askq ingest --sync` through the real CLI, with a worker embedding through the fake
 * OpenAI server into the fake Pinecone: the fake's embeddings log shows exactly which texts
 * were embedded, its index which documents are left.
 */
describe('ingest --sync keeps a namespace mirroring a folder', () => {
  const ns = 'handbook';
  let openai: FakeOpenAI;
  let pinecone: FakePinecone;
  let h: Harness;
  let docs: string;
  let env: Record<string, string>;
  let embeddingCalls = 0;

  /** The texts embedded since the last call (requests kept by the fake: the last 50). */
  const embeddedSinceLast = () => {
    const calls = openai.calls.embeddings - embeddingCalls;
    embeddingCalls = openai.calls.embeddings;
    return calls === 0
      ? []
      : openai.requests.embeddings
          .slice(-calls)
          .flatMap((r) => (r.body as { input: string[] }).input)
          .sort();
  };
  const sync = async () => {
    const run = await runCli(['ingest', '--sync', docs, '--namespace', ns, '--json'], env);
    expect(run.code, run.stderr).toBe(0);
    return JSON.parse(run.stdout) as IngestSummary;
  };
  const storedDocs = () =>
    [...new Set([...pinecone.namespace(ns).values()].map((v) => String(v.metadata?.docId)))].sort();
  const corpusVersion = async () => h.redis.get(corpusVersionKey(h.config.ASKQ_PREFIX, ns));

  beforeAll(async () => {
    openai = await startFakeOpenAI({ apiKey: 'sk-sync-0001' });
    pinecone = await startFakePinecone({ apiKey: 'pc-sync', indexName: 'askq-sync' });
    h = await startHarness({
      env: {
        OPENAI_API_KEY: 'sk-sync-0001',
        OPENAI_BASE_URL: openai.url,
        PINECONE_API_KEY: 'pc-sync',
        PINECONE_INDEX: 'askq-sync',
        PINECONE_HOST: pinecone.host,
      },
    });
    env = { REDIS_URL: h.config.REDIS_URL, ASKQ_PREFIX: h.config.ASKQ_PREFIX };
    docs = await mkdtemp(join(tmpdir(), 'askq-sync-'));
    await writeFile(join(docs, 'keep.md'), '# Keep\nThis page never changes.');
    await writeFile(join(docs, 'change.md'), '# Change\nThe first version of this page.');
    await writeFile(join(docs, 'delete.txt'), 'A note that will be deleted.');
    await writeFile(
      join(docs, 'faq.jsonl'),
      '{"id":"faq-1","text":"Question one and its answer."}\n' +
        '{"id":"faq-2","text":"Question two and its answer."}\n',
    );
  });

  afterAll(async () => {
    await h.close();
    await openai.close();
    await pinecone.close();
    await rm(docs, { recursive: true, force: true });
  });

  it('ingests everything on the first sync and records it in a manifest under the prefix', async () => {
    const first = await sync();
    expect(first).toMatchObject({ documents: 5, chunks: 5, upserted: 5, unchanged: 0, removed: 0 });
    expect(embeddedSinceLast()).toHaveLength(5);
    expect(storedDocs()).toEqual(['change.md', 'delete.txt', 'faq-1', 'faq-2', 'keep.md']);
    const manifest = await h.redis.hkeys(manifestKey(h.config.ASKQ_PREFIX, ns));
    expect(manifest.sort()).toEqual(['change.md', 'delete.txt', 'faq.jsonl', 'keep.md']);
  });

  it('changes nothing, embeds nothing and keeps the corpus version on a sync of an unchanged folder', async () => {
    const version = await corpusVersion();
    const again = await sync();
    expect(again).toMatchObject({
      documents: 0,
      chunks: 0,
      upserted: 0,
      deleted: 0,
      unchanged: 4,
      removed: 0,
    });
    expect(embeddedSinceLast()).toEqual([]);
    expect(await corpusVersion()).toBe(version);
  });

  it('re-embeds exactly the changed and added files and deletes the gone one', async () => {
    const version = Number(await corpusVersion());
    await writeFile(join(docs, 'change.md'), '# Change\nThe second version of this page.');
    await unlink(join(docs, 'delete.txt'));
    await writeFile(join(docs, 'added.md'), '# Added\nA page that is new.');
    const run = await runCli(['ingest', '--sync', docs, '--namespace', ns], env);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toBe(
      'ingested 2 documents, 2 chunks (2 upserted, 1 stale deleted, 0 skipped, ' +
        '0 batches failed, 2 files unchanged, 1 documents removed)\n',
    );
    // (The OpenAI client sends newlines as spaces.)
    expect(embeddedSinceLast()).toEqual([
      '# Added A page that is new.',
      '# Change The second version of this page.',
    ]);
    expect(storedDocs()).toEqual(['added.md', 'change.md', 'faq-1', 'faq-2', 'keep.md']);
    expect(Number(await corpusVersion())).toBeGreaterThan(version);
  });

  it('deletes a line gone from a JSONL file and leaves its other lines unembedded', async () => {
    await writeFile(
      join(docs, 'faq.jsonl'),
      '{"id":"faq-1","text":"Question one and its answer."}\n',
    );
    const summary = await sync();
    expect(summary).toMatchObject({ documents: 1, unchanged: 3, removed: 1, deleted: 1 });
    // Upserting faq-1 again costs one embedding: the file is the unit of change.
    expect(embeddedSinceLast()).toEqual(['Question one and its answer.']);
    expect(storedDocs()).toEqual(['added.md', 'change.md', 'faq-1', 'keep.md']);
  });

  it('rejects --sync with anything but one folder', async () => {
    const two = await runCli(['ingest', '--sync', docs, docs], env);
    expect(two.code).toBe(2);
    expect(two.stderr).toContain('--sync takes exactly one folder, got 2 paths');
    const file = await runCli(['ingest', '--sync', join(docs, 'keep.md')], env);
    expect(file.code).toBe(2);
    expect(file.stderr).toContain('is not one');
  });
});
