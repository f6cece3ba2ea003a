import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

import { describe, expect, it } from 'vitest';

import { ValidationError } from '../../../../src/shared/errors.ts';
import {
  hash32,
  HashingEmbeddings,
} from '../../../../src/worker/providers/local/hashing-embeddings.ts';
import { CORPUS, corpusText } from './corpus.ts';

const run = promisify(execFile);
const moduleUrl = new URL(
  '../../../../src/worker/providers/local/hashing-embeddings.ts',
  import.meta.url,
).href;

function dot(a: number[], b: number[]): number {
  return a.reduce((sum, v, i) => sum + v * b[i]!, 0);
}

async function nearest(embeddings: HashingEmbeddings, question: string): Promise<string[]> {
  const docs = await embeddings.embedDocuments(CORPUS.map((d) => d.text));
  const q = await embeddings.embedQuery(question);
  return CORPUS.map((d, i) => ({ id: d.id, score: dot(q, docs[i]!) }))
    .sort((a, b) => b.score - a.score)
    .map((d) => d.id);
}

describe('HashingEmbeddings', () => {
  const embeddings = new HashingEmbeddings();

  it('names itself and honours the dimensions option', async () => {
    expect(embeddings.provider).toBe('local');
    expect(embeddings.model).toBe('hashing-v1');
    expect(await embeddings.embedQuery('hello')).toHaveLength(1024);
    const small = new HashingEmbeddings({ dimensions: 64 });
    expect(await small.embedQuery('hello')).toHaveLength(64);
    expect(small.embeddingId).toBe('local-hashing-v1-64');
    expect(() => new HashingEmbeddings({ dimensions: 3 })).toThrow(ValidationError);
  });

  it('returns unit vectors, and a zero vector for text without features', async () => {
    for (const doc of CORPUS) {
      const v = await embeddings.embedQuery(doc.text);
      expect(Math.sqrt(dot(v, v))).toBeCloseTo(1, 10);
    }
    expect((await embeddings.embedQuery('?!')).every((v) => v === 0)).toBe(true);
  });

  it('is deterministic: pinned hashes and vectors, equal across calls', async () => {
    // Stored vectors depend on these: a change here must come with a new model name.
    expect(hash32('')).toBe(2872998923);
    expect(hash32('w:lcel')).toBe(1900909071);
    expect(hash32('b:向量')).toBe(829209484);
    const v = new HashingEmbeddings({ dimensions: 64 }).embed('What is LCEL?');
    const nonZero = v.flatMap((x, i) => (x === 0 ? [] : [[i, Number(x.toFixed(6))]]));
    expect(nonZero).toEqual([
      [15, 0.857493],
      [16, 0.257248],
      [32, -0.257248],
      [43, 0.257248],
      [49, 0.257248],
    ]);
    const docs = await embeddings.embedDocuments(CORPUS.map((d) => d.text));
    expect(docs[4]).toEqual(await embeddings.embedQuery(CORPUS[4].text));
  });

  it('gives the same vector in another process', async () => {
    const script =
      'const { HashingEmbeddings } = await import(process.argv[1]);' +
      'console.log(JSON.stringify(await new HashingEmbeddings().embedQuery(process.argv[2])));';
    const text = corpusText('lcel-zh.md');
    const { stdout } = await run(process.execPath, [
      '--input-type=module',
      '-e',
      script,
      moduleUrl,
      text,
    ]);
    expect(JSON.parse(stdout)).toEqual(await embeddings.embedQuery(text));
  });

  it('scores related texts above unrelated ones, in English and Chinese', async () => {
    const [retry, retryAgain, breaker] = await embeddings.embedDocuments([
      'BullMQ retries failed jobs with exponential backoff',
      'How many times does a failed job get retried?',
      'A circuit breaker opens after repeated failures',
    ]);
    expect(dot(retry!, retryAgain!)).toBeGreaterThan(dot(retryAgain!, breaker!));

    const [vec, vecQ, lcel] = await embeddings.embedDocuments([
      '向量数据库用于存储嵌入向量',
      '什么是向量数据库？',
      'LCEL 是一种声明式地组合链的方法',
    ]);
    expect(dot(vec!, vecQ!)).toBeGreaterThan(dot(vecQ!, lcel!));

    const [retrieval, retriever, piano] = await embeddings.embedDocuments([
      'retrieval',
      'retriever',
      'piano',
    ]);
    expect(dot(retrieval!, retriever!)).toBeGreaterThan(0.2);
    expect(dot(retrieval!, retriever!)).toBeGreaterThan(dot(retrieval!, piano!));
  });

  it('finds the right paragraph of the corpus', async () => {
    expect((await nearest(embeddings, '什么是 LCEL？'))[0]).toBe('lcel-zh.md');
    expect((await nearest(embeddings, '什么是 ＬＣＥＬ？'))[0]).toBe('lcel-zh.md');
    expect((await nearest(embeddings, 'How does BullMQ retry failed jobs?'))[0]).toBe(
      'bullmq-retries.md',
    );
    expect((await nearest(embeddings, '向量数据库如何衡量相似度？'))[0]).toBe(
      'vector-databases-zh.md',
    );
    expect((await nearest(embeddings, 'When does a circuit breaker close again?'))[0]).toBe(
      'circuit-breakers.md',
    );
  });

  it('embeds many texts, yielding to the event loop between slices', async () => {
    const texts = Array.from({ length: 300 }, (_, i) => `${CORPUS[i % CORPUS.length]!.text} ${i}`);
    let yielded = false;
    setImmediate(() => (yielded = true));
    const vectors = await embeddings.embedDocuments(texts);
    // Without a yield the whole batch would resolve in microtasks, before any immediate runs.
    expect(yielded).toBe(true);
    expect(vectors).toHaveLength(300);
    expect(vectors[299]).toEqual(await embeddings.embedQuery(texts[299]!));
  });

  it('rejects with the reason of an aborted signal', async () => {
    const reason = new Error('stop');
    const signal = AbortSignal.abort(reason);
    await expect(embeddings.embedQuery('x', signal)).rejects.toBe(reason);
    await expect(embeddings.embedDocuments(['x'], signal)).rejects.toBe(reason);
  });

  it('stops a long batch when the signal aborts midway', async () => {
    const controller = new AbortController();
    const texts = Array.from({ length: 1000 }, (_, i) => `text ${i}`);
    const pending = embeddings.embedDocuments(texts, controller.signal);
    controller.abort(new Error('deadline'));
    await expect(pending).rejects.toThrow('deadline');
  });
});
