import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ingest } from '../../src/producer/ingest.ts';
import { type FakeOpenAI, startFakeOpenAI } from '../support/fake-openai-server.ts';
import { type FakePinecone, startFakePinecone } from '../support/fake-pinecone-server.ts';
import { type Harness, startHarness } from '../support/worker-harness.ts';

/**
 * The whole system on its remote providers: the real ChatOpenAI / OpenAIEmbeddings / Pinecone
 * client code, over HTTP, against the fakes; selected by configuration alone.
 */
describe('worker on OpenAI-compatible chat and embeddings and Pinecone (fakes over HTTP)', () => {
  const apiKey = 'sk-e2e-secret-key-0001';
  let openai: FakeOpenAI;
  let pinecone: FakePinecone;
  let h: Harness;
  let docs: string;

  beforeAll(async () => {
    openai = await startFakeOpenAI({ apiKey });
    pinecone = await startFakePinecone({ apiKey: 'pc-secret', indexName: 'askq-e2e' });
    h = await startHarness({
      env: {
        OPENAI_API_KEY: apiKey,
        OPENAI_BASE_URL: openai.url,
        PINECONE_API_KEY: 'pc-secret',
        PINECONE_INDEX: 'askq-e2e',
        PINECONE_HOST: pinecone.host,
        ASKQ_ATTEMPTS: '3',
      },
    });
    docs = await mkdtemp(join(tmpdir(), 'askq-remote-'));
    await writeFile(
      join(docs, 'retries.md'),
      'BullMQ retries failed jobs with exponential backoff. Each retry waits twice as long.',
    );
    await writeFile(join(docs, 'redis.txt'), 'Redis must run with noeviction so no job is lost.');
  });

  afterAll(async () => {
    await h.close();
    await openai.close();
    await pinecone.close();
    await rm(docs, { recursive: true, force: true });
  });

  it('selects the remote providers from the configuration', () => {
    expect(h.worker.ports.chat.provider).toBe('openai');
    expect(h.worker.ports.embeddings.provider).toBe('openai');
    expect(h.worker.ports.store.provider).toBe('pinecone');
  });

  it('ingests through OpenAIEmbeddings into Pinecone, idempotently', async () => {
    const opts = { redis: h.config.REDIS_URL, prefix: h.config.ASKQ_PREFIX };
    const first = await ingest([docs], opts);
    expect(first).toMatchObject({ documents: 2, chunks: 2, upserted: 2, failed: [] });
    expect(openai.calls.embeddings).toBeGreaterThanOrEqual(1);
    expect(pinecone.namespace('default').size).toBe(2);
    await ingest([docs], opts);
    expect(pinecone.namespace('default').size).toBe(2);
  });

  it('answers through ChatOpenAI with the key, the model, usage and sources', async () => {
    const { id } = await h.client.ask({ question: 'How does BullMQ retry failed jobs?', topK: 2 });
    const result = await h.client.waitForAnswer(id, { timeoutMs: 10_000 });
    expect(result.model).toBe('gpt-4o-mini');
    expect(result.usage.inputTokens).toBeGreaterThan(0);
    expect(result.sources.map((s) => s.id).sort()).toEqual(['redis.txt', 'retries.md']);
    expect(result.answer).toMatch(/\[1\]$/);
    const chat = openai.lastRequest('chat')!;
    expect(chat.headers.authorization).toBe(`Bearer ${apiKey}`);
    expect(JSON.stringify(chat.body)).toContain('How does BullMQ retry failed jobs?');
  });

  it('retries a 500 from the chat model without embedding or searching again', async () => {
    openai.failNext('chat', { status: 500 });
    const before = {
      chat: openai.calls.chat,
      embed: openai.calls.embeddings,
      query: pinecone.calls.query,
    };
    const { id } = await h.client.ask({ question: 'Why noeviction?' });
    const result = await h.client.waitForAnswer(id, { timeoutMs: 10_000 });
    expect(result.attempts).toBe(2);
    expect(openai.calls.chat - before.chat).toBe(2);
    expect(openai.calls.embeddings - before.embed).toBe(1);
    expect(pinecone.calls.query - before.query).toBe(1);
  });

  it('answers from the fallback chat model when the first one fails, and says which', async () => {
    const fallback = await startHarness({
      env: {
        OPENAI_API_KEY: apiKey,
        OPENAI_BASE_URL: openai.url,
        ASKQ_VECTOR_STORE: 'local',
        ASKQ_LOCAL_STORE_DIR: docs,
        ASKQ_FALLBACK_CHAT_MODEL: 'gpt-fallback',
      },
    });
    try {
      openai.failNext('chat', { status: 503 });
      const { id } = await fallback.client.ask({ question: 'Anything?' });
      const result = await fallback.client.waitForAnswer(id, { timeoutMs: 10_000 });
      expect(result.model).toBe('gpt-fallback');
      expect(result.attempts).toBe(1);
      const models = openai.requests.chat.slice(-2).map((r) => (r.body as { model: string }).model);
      expect(models).toEqual(['gpt-4o-mini', 'gpt-fallback']);
    } finally {
      await fallback.close();
    }
  });

  it('fails a 401 at once, unrecoverable, with one call and no key in the reason', async () => {
    openai.failNext('chat', { status: 401 });
    const before = openai.calls.chat;
    const { id } = await h.client.ask({ question: 'Why noeviction?' });
    const err = await h.client.waitForAnswer(id, { timeoutMs: 10_000 }).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/401/);
    expect((err as Error).message).not.toContain(apiKey);
    expect(openai.calls.chat - before).toBe(1);
    const status = await h.client.getStatus(id);
    expect(status).toMatchObject({ state: 'failed', attempts: 1 });
  });
});
