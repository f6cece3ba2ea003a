import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { SECOND } from '../../../src/shared/time.ts';
import { OpenAIEmbeddingsProvider } from '../../../src/worker/providers/openai/openai-embeddings.ts';
import {
  type FakeOpenAI,
  hashEmbedding,
  startFakeOpenAI,
} from '../../support/fake-openai-server.ts';
import { release, track } from '../../support/resources.ts';

const API_KEY = 'sk-test-embed-0123456789abcdef';

interface EmbeddingsBody {
  model: string;
  input: string | string[];
  dimensions?: number;
}

describe('OpenAIEmbeddingsProvider against the fake OpenAI server', () => {
  let fake: FakeOpenAI;
  let embeddings: OpenAIEmbeddingsProvider;

  beforeAll(async () => {
    fake = track(await startFakeOpenAI({ apiKey: API_KEY }), 'fake openai');
    embeddings = new OpenAIEmbeddingsProvider({
      apiKey: API_KEY,
      baseURL: fake.url,
      model: 'text-embedding-3-small',
    });
  });
  afterAll(async () => {
    await fake.close();
    release(fake);
  });
  beforeEach(() => {
    fake.latencyMs = 0;
  });

  it('embeds a query through the SDK (base64 transport decoded to numbers)', async () => {
    const vector = await embeddings.embedQuery('the sky is blue');
    expect(vector).toHaveLength(64);
    expect(Array.isArray(vector)).toBe(true);
    const expected = hashEmbedding('the sky is blue', 64);
    vector.forEach((v, i) => expect(v).toBeCloseTo(expected[i]!, 5));
    const request = fake.lastRequest('embeddings');
    expect(request?.headers.authorization).toBe(`Bearer ${API_KEY}`);
    expect((request?.body as EmbeddingsBody).model).toBe('text-embedding-3-small');
  });

  it('sends dimensions when configured', async () => {
    const sized = new OpenAIEmbeddingsProvider({
      apiKey: API_KEY,
      baseURL: fake.url,
      model: 'text-embedding-3-small',
      dimensions: 16,
    });
    const [a, b] = await sized.embedDocuments(['alpha', 'beta']);
    expect(a).toHaveLength(16);
    expect(b).toHaveLength(16);
    expect((fake.lastRequest('embeddings')?.body as EmbeddingsBody).dimensions).toBe(16);
  });

  it('batches documents by batchSize and keeps their order', async () => {
    const batched = new OpenAIEmbeddingsProvider({
      apiKey: API_KEY,
      baseURL: fake.url,
      model: 'text-embedding-3-small',
      batchSize: 2,
    });
    const texts = ['one', 'two', 'three', 'four', 'five'];
    const before = fake.calls.embeddings;
    const vectors = await batched.embedDocuments(texts);
    expect(fake.calls.embeddings - before).toBe(3);
    const inputs = fake.requests.embeddings.slice(-3).map((r) => (r.body as EmbeddingsBody).input);
    expect(inputs.flat().sort()).toEqual([...texts].sort());
    vectors.forEach((v, i) => expect(v[0]).toBeCloseTo(hashEmbedding(texts[i]!, 64)[0]!, 5));
  });

  it('makes no call for no documents', async () => {
    const before = fake.calls.embeddings;
    expect(await embeddings.embedDocuments([])).toEqual([]);
    expect(fake.calls.embeddings).toBe(before);
  });

  it('makes exactly one HTTP call on a 500 (maxRetries: 0)', async () => {
    const before = fake.calls.embeddings;
    fake.failNext('embeddings', { status: 500 });
    await expect(embeddings.embedQuery('x')).rejects.toMatchObject({ status: 500 });
    expect(fake.calls.embeddings - before).toBe(1);
  });

  it('the per-call signal cancels the HTTP request of a hung call', async () => {
    fake.failNext('embeddings', { hang: true });
    const controller = new AbortController();
    const arrived = fake.nextRequest('embeddings');
    const aborted = fake.nextClientAbort();
    const pending = embeddings.embedQuery('hang', controller.signal);
    await arrived;
    const started = performance.now();
    controller.abort();
    await expect(pending).rejects.toThrow();
    await aborted; // the connection was closed, not just the promise rejected
    expect(performance.now() - started).toBeLessThan(2 * SECOND);
  });

  it('a per-call timeout cancels embedDocuments', async () => {
    fake.latencyMs = 30 * SECOND;
    const aborted = fake.nextClientAbort();
    await expect(embeddings.embedDocuments(['a', 'b'], AbortSignal.timeout(100))).rejects.toThrow();
    await aborted;
  });

  it('a signal already aborted makes no request', async () => {
    const before = fake.calls.embeddings;
    await expect(embeddings.embedQuery('x', AbortSignal.abort())).rejects.toThrow();
    expect(fake.calls.embeddings).toBe(before);
  });

  it('calls with different signals do not cancel each other', async () => {
    fake.latencyMs = 200;
    const controller = new AbortController();
    const doomed = embeddings.embedQuery('doomed', controller.signal);
    const survivor = embeddings.embedQuery('survivor', new AbortController().signal);
    controller.abort();
    await expect(doomed).rejects.toThrow();
    await expect(survivor).resolves.toHaveLength(64);
  });
});
