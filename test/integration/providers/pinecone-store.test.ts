import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { classifyProviderError } from '../../../src/shared/classify-provider-error.ts';
import { PermanentError, RateLimitedError, TransientError } from '../../../src/shared/errors.ts';
import { chunkId, type VectorRecord } from '../../../src/shared/ports.ts';
import { SECOND } from '../../../src/shared/time.ts';
import {
  idPrefix,
  PineconeVectorStore,
} from '../../../src/worker/providers/pinecone/pinecone-store.ts';
import { hashEmbedding } from '../../support/fake-openai-server.ts';
import { type FakePinecone, startFakePinecone } from '../../support/fake-pinecone-server.ts';
import { release, track } from '../../support/resources.ts';

const API_KEY = 'pcsk_test_0123456789abcdefghijklmnop';
const DIMS = 16;

function record(docId: string, chunk: number, text: string, metadata?: Record<string, string>) {
  return {
    id: chunkId(docId, chunk),
    docId,
    chunk,
    text,
    values: hashEmbedding(text, DIMS),
    ...(metadata ? { metadata } : {}),
  } satisfies VectorRecord;
}

interface UpsertBody {
  vectors: { id: string; metadata?: Record<string, unknown> }[];
  namespace?: string;
}

describe('PineconeVectorStore against the fake data plane', () => {
  let fake: FakePinecone;
  let store: PineconeVectorStore;

  beforeAll(async () => {
    fake = track(await startFakePinecone({ apiKey: API_KEY }), 'fake pinecone');
    store = new PineconeVectorStore({ apiKey: API_KEY, index: 'askq-test', host: fake.host });
  });
  afterAll(async () => {
    await store.close();
    await fake.close();
    release(fake);
  });

  it('upserts with docId#chunk ids and flat metadata, sending Pinecone headers', async () => {
    await store.upsert('ns-a', [
      record('sky.md', 0, 'The sky is blue.', { lang: 'en' }),
      record('sky.md', 1, 'Clouds are white.'),
    ]);
    const stored = fake.namespace('ns-a');
    expect([...stored.keys()].sort()).toEqual(['sky.md#0', 'sky.md#1']);
    expect(stored.get('sky.md#0')?.metadata).toEqual({
      lang: 'en',
      docId: 'sky.md',
      chunk: 0,
      text: 'The sky is blue.',
    });
    const request = fake.lastRequest('upsert');
    expect(request?.headers['api-key']).toBe(API_KEY);
    expect(request?.headers['x-pinecone-api-version']).toMatch(/^\d{4}-\d{2}$/);
    expect(fake.calls.describeIndex).toBe(0); // the host was given: no control-plane call
  });

  it('queries best first with Pinecone scores, text and metadata', async () => {
    const matches = await store.query('ns-a', hashEmbedding('The sky is blue.', DIMS), 2);
    expect(matches).toHaveLength(2);
    expect(matches[0]).toMatchObject({ docId: 'sky.md', chunk: 0, text: 'The sky is blue.' });
    expect(matches[0]?.score).toBeCloseTo(1, 5);
    expect(matches[0]?.metadata).toEqual({ lang: 'en' });
    expect(matches[0]!.score).toBeGreaterThan(matches[1]!.score);
    expect((fake.lastRequest('query')?.body as { includeMetadata: boolean }).includeMetadata).toBe(
      true,
    );
  });

  it('keeps namespaces apart', async () => {
    await store.upsert('ns-b', [record('other.md', 0, 'Grass is green.')]);
    const inA = await store.query('ns-a', hashEmbedding('Grass is green.', DIMS), 10);
    const inB = await store.query('ns-b', hashEmbedding('Grass is green.', DIMS), 10);
    expect(inA.map((m) => m.docId)).not.toContain('other.md');
    expect(inB.map((m) => m.docId)).toEqual(['other.md']);
  });

  it('upserting the same records twice changes nothing', async () => {
    const records = [record('twice.md', 0, 'Once.'), record('twice.md', 1, 'Twice.')];
    await store.upsert('ns-idem', records);
    const first = new Map(fake.namespace('ns-idem'));
    await store.upsert('ns-idem', records);
    expect(fake.namespace('ns-idem').size).toBe(2);
    expect(new Map(fake.namespace('ns-idem'))).toEqual(first);
  });

  it('deleteChunksFrom deletes only chunks >= fromChunk of that document', async () => {
    const many = Array.from({ length: 150 }, (_, i) => record('long.md', i, `Chunk ${i}.`));
    // A document whose id extends the other's must survive the prefix listing.
    await store.upsert('ns-del', [...many, record('long.md#x', 0, 'Lookalike.')]);
    const deleted = await store.deleteChunksFrom('ns-del', 'long.md', 40);
    expect(deleted).toBe(110);
    const left = [...fake.namespace('ns-del').keys()];
    expect(left).toHaveLength(41);
    expect(left).toContain('long.md#39');
    expect(left).toContain('long.md#x#0');
    expect(left).not.toContain('long.md#40');
    expect(fake.calls.list).toBeGreaterThanOrEqual(2); // paginated past the first 100 ids
    expect(await store.deleteChunksFrom('ns-del', 'long.md', 40)).toBe(0);
  });

  it('batches upserts to at most 100 vectors and under the size limit', async () => {
    const before = fake.calls.upsert;
    const records = Array.from({ length: 250 }, (_, i) => record('bulk.md', i, `Bulk ${i}.`));
    await store.upsert('ns-bulk', records);
    const requests = fake.requests.upsert.slice(before - fake.calls.upsert);
    expect(requests.map((r) => (r.body as UpsertBody).vectors.length)).toEqual([100, 100, 50]);

    const small = new PineconeVectorStore({
      apiKey: API_KEY,
      index: 'askq-test',
      host: fake.host,
      maxRequestBytes: 4000,
    });
    const beforeSmall = fake.calls.upsert;
    const big = Array.from({ length: 6 }, (_, i) => record('big.md', i, 'x'.repeat(1500)));
    await small.upsert('ns-bulk', big);
    expect(fake.calls.upsert - beforeSmall).toBe(3);
    expect(fake.namespace('ns-bulk').size).toBe(256);
  });

  it('hashes ids over 512 bytes, keeping the real docId in metadata and deletable', async () => {
    const docId = `docs/${'deep/'.repeat(120)}file.md`;
    expect(Buffer.byteLength(docId)).toBeGreaterThan(512);
    await store.upsert('ns-long', [record(docId, 0, 'Deep one.'), record(docId, 1, 'Deep two.')]);
    const ids = [...fake.namespace('ns-long').keys()];
    for (const id of ids) {
      expect(Buffer.byteLength(id)).toBeLessThanOrEqual(512);
      expect(id.startsWith(idPrefix(docId))).toBe(true);
    }
    const [match] = await store.query('ns-long', hashEmbedding('Deep one.', DIMS), 1);
    expect(match).toMatchObject({ docId, chunk: 0, text: 'Deep one.' });
    expect(await store.deleteChunksFrom('ns-long', docId, 1)).toBe(1);
    expect(fake.namespace('ns-long').size).toBe(1);
  });

  it('resolves the host through the control plane when only the index name is given', async () => {
    const byName = new PineconeVectorStore({
      apiKey: API_KEY,
      index: 'askq-test',
      controllerHostUrl: fake.controllerHostUrl,
    });
    const matches = await byName.query('ns-b', hashEmbedding('Grass is green.', DIMS), 1);
    expect(matches[0]?.docId).toBe('other.md');
    expect(fake.calls.describeIndex).toBe(1);
  });

  it('the signal aborts a hung request and the fake sees the connection close', async () => {
    fake.failNext('query', { hang: true });
    const controller = new AbortController();
    const arrived = fake.nextRequest('query');
    const aborted = fake.nextClientAbort();
    const pending = store.query('ns-a', hashEmbedding('x', DIMS), 1, controller.signal);
    await arrived;
    const started = performance.now();
    controller.abort();
    const err = await pending.catch((e: unknown) => e);
    await aborted;
    expect(performance.now() - started).toBeLessThan(2 * SECOND);
    expect(classifyProviderError(err, 'pinecone')).toBeInstanceOf(TransientError);
  });

  it.each([
    [{ status: 500 }, TransientError],
    [{ status: 503 }, TransientError],
    [{ status: 429 }, RateLimitedError],
    [{ status: 400 }, PermanentError],
    [{ status: 404 }, PermanentError],
    [{ dropConnection: true }, TransientError],
  ] as const)('%o from Pinecone classifies as %o, in one HTTP call', async (behaviour, kind) => {
    const before = fake.calls.query;
    fake.failNext('query', behaviour);
    const err = await store.query('ns-a', hashEmbedding('x', DIMS), 1).catch((e: unknown) => e);
    expect(classifyProviderError(err, 'pinecone')).toBeInstanceOf(kind);
    expect(fake.calls.query - before).toBe(1); // maxRetries: 0
  });

  it('a rejected key is permanent and the error does not carry the key', async () => {
    const wrongKey = 'pcsk_wrong_0123456789abcdefghijklmnop';
    const wrong = new PineconeVectorStore({ apiKey: wrongKey, index: 'x', host: fake.host });
    const err = await wrong.query('ns-a', hashEmbedding('x', DIMS), 1).catch((e: unknown) => e);
    const classified = classifyProviderError(err, 'pinecone');
    expect(classified).toBeInstanceOf(PermanentError);
    expect(classified.message).not.toContain(wrongKey);
    expect(String((err as Error).message)).not.toContain(wrongKey);
  });
});
