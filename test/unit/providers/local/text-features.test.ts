import { describe, expect, it } from 'vitest';

import {
  estimateTokens,
  features,
  foldPlural,
  isMainlyCjk,
  tokenize,
  trigrams,
} from '../../../../src/worker/providers/local/text-features.ts';

describe('tokenize', () => {
  it('keeps content words, drops English stop words and folds plurals', () => {
    expect(tokenize('How does BullMQ retry the failed jobs?')).toEqual([
      'bullmq',
      'retry',
      'failed',
      'job',
    ]);
    expect(tokenize('Retries and queries')).toEqual(['retry', 'query']);
  });

  it('splits Chinese into character unigrams and bigrams', () => {
    const terms = tokenize('向量数据库');
    expect(terms).toEqual(
      expect.arrayContaining(['向', '量', '数', '据', '库', '向量', '量数', '数据', '据库']),
    );
    expect(terms).toHaveLength(9);
  });

  it('finds ASCII terms embedded in Chinese and drops question words', () => {
    const terms = tokenize('什么是 LCEL？');
    expect(terms).toEqual(['lcel']);
    expect(tokenize('用LCEL构建链')).toEqual(expect.arrayContaining(['lcel', '构建', '建链']));
  });

  it('normalises full-width letters with NFKC', () => {
    expect(tokenize('ＬＣＥＬ')).toEqual(['lcel']);
    expect([...features('ＬＣＥＬ').keys()]).toEqual([...features('lcel').keys()]);
  });

  it('handles Japanese and Korean runs as character n-grams', () => {
    expect(tokenize('ベクトル')).toEqual(expect.arrayContaining(['ベク', 'クト', 'トル']));
    expect(tokenize('벡터 검색')).toEqual(expect.arrayContaining(['벡터', '검색']));
  });
});

describe('features', () => {
  it('weights words above their trigrams and applies sublinear term frequency', () => {
    const once = features('retrieval');
    const thrice = features('retrieval retrieval retrieval');
    expect(once.get('w:retrieval')).toBe(1);
    expect(once.get('t:#re')).toBeLessThan(once.get('w:retrieval')!);
    expect(thrice.get('w:retrieval')).toBeCloseTo(1 + Math.log(3), 10);
  });

  it('gives related word forms shared trigrams', () => {
    const a = new Set([...features('retrieval').keys()].filter((k) => k.startsWith('t:')));
    const b = [...features('retriever').keys()].filter((k) => k.startsWith('t:'));
    expect(b.filter((k) => a.has(k)).length).toBeGreaterThanOrEqual(4);
  });

  it('keeps CJK unigrams and bigrams as separate kinds', () => {
    const f = features('向量');
    expect([...f.keys()].sort()).toEqual(['b:向量', 'u:向', 'u:量']);
    expect(f.get('b:向量')).toBeGreaterThan(f.get('u:向')!);
  });
});

describe('helpers', () => {
  it('folds plurals without mangling short or -ss words', () => {
    expect(foldPlural('chains')).toBe('chain');
    expect(foldPlural('batches')).toBe('batch');
    expect(foldPlural('class')).toBe('class');
    expect(foldPlural('bus')).toBe('bus');
  });

  it('marks word boundaries in trigrams', () => {
    expect(trigrams('job')).toEqual(['#jo', 'job', 'ob#']);
  });

  it('tells mainly Chinese text from English with a few Chinese words', () => {
    expect(isMainlyCjk('什么是 LCEL？')).toBe(true);
    expect(isMainlyCjk('What does 向量 mean in LCEL docs?')).toBe(false);
  });

  it('estimates tokens: one per CJK character, about four Latin characters each', () => {
    expect(estimateTokens('向量数据库')).toBe(5);
    expect(estimateTokens('embeddings')).toBe(3);
    expect(estimateTokens('')).toBe(0);
  });
});
