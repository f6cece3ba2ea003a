import { describe, expect, it } from 'vitest';

import { failedAssertions, resolveAssertions } from '../../../src/shared/scoring/assertions.ts';
import { cosineSimilarity } from '../../../src/shared/scoring/cosine-similarity.ts';
import { hitAtK, reciprocalRank } from '../../../src/shared/scoring/retrieval-metrics.ts';
import { containsAll, exactMatch, regexMatch } from '../../../src/shared/scoring/text-match.ts';
import { tokenF1 } from '../../../src/shared/scoring/token-f1.ts';
import { tokenize } from '../../../src/shared/scoring/tokenize.ts';

describe('text matching', () => {
  it('exact ignores case, width, punctuation and citations', () => {
    expect(exactMatch('  The Limiter option. [1]', ['the limiter option'])).toBe(1);
    expect(exactMatch('ＬＣＥＬ', ['lcel'])).toBe(1);
    expect(exactMatch('the limiter options', ['the limiter option'])).toBe(0);
    expect(exactMatch('b', ['a', 'B'])).toBe(1);
  });

  it('contains scores the fraction of expected strings found', () => {
    expect(containsAll('Retries wait 1, 2, 4 and 8 seconds', ['1, 2, 4 AND 8 seconds'])).toBe(1);
    expect(containsAll('only the first', ['first', 'second'])).toBe(0.5);
    expect(containsAll('断路器有三种状态', ['三种状态'])).toBe(1);
  });

  it('regex matches with unicode semantics', () => {
    expect(regexMatch('wait 8 seconds', '\\d+ seconds')).toBe(1);
    expect(regexMatch('wait eight seconds', '^\\d')).toBe(0);
    expect(() => regexMatch('x', '(')).toThrow(SyntaxError);
  });
});

describe('token F1', () => {
  it('tokenises CJK per character and other scripts per word', () => {
    expect(tokenize('LCEL 是什么？Runnable!')).toEqual(['lcel', '是', '什', '么', 'runnable']);
    expect(tokenize('👍 naïve café')).toEqual(['naïve', 'café']);
  });

  it('is SQuAD-style F1 against the best expected string', () => {
    expect(tokenF1('the cat sat', ['the cat sat'])).toBe(1);
    // 2 common of 3 got and 4 want: p=2/3, r=1/2 → 4/7
    expect(tokenF1('the cat ran', ['the cat sat down'])).toBeCloseTo(4 / 7, 6);
    expect(tokenF1('dog', ['cat', 'dog'])).toBe(1);
    expect(tokenF1('', ['cat'])).toBe(0);
  });

  it('gives partial credit to Chinese answers without spaces', () => {
    const f1 = tokenF1('熔断器有关闭、打开和半开三种状态', ['关闭、打开、半开三种状态']);
    expect(f1).toBeGreaterThan(0.7);
    expect(f1).toBeLessThan(1);
  });
});

describe('retrieval metrics', () => {
  const retrieved = ['a.md', 'a.md', 'b.md', 'c.md'];
  it('hit@k looks at the first k sources', () => {
    expect(hitAtK(retrieved, ['b.md'], 3)).toBe(1);
    expect(hitAtK(retrieved, ['b.md'], 2)).toBe(0);
    expect(hitAtK(retrieved, ['z.md'], 10)).toBe(0);
  });
  it('mrr ranks distinct documents', () => {
    expect(reciprocalRank(retrieved, ['b.md'])).toBe(0.5);
    expect(reciprocalRank(retrieved, ['c.md', 'a.md'])).toBe(1);
    expect(reciprocalRank(retrieved, ['z.md'])).toBe(0);
  });
});

describe('cosine similarity', () => {
  it('is 1 for parallel, 0 for orthogonal and zero vectors, and checks lengths', () => {
    expect(cosineSimilarity([1, 2], [2, 4])).toBeCloseTo(1, 10);
    expect(cosineSimilarity([1, 0], [0, 1])).toBe(0);
    expect(cosineSimilarity([0, 0], [1, 1])).toBe(0);
    expect(() => cosineSimilarity([1], [1, 2])).toThrow(RangeError);
  });
});

describe('assertions and the pass rule', () => {
  it('defaults to contains for expected and hit@k + mrr for expectedSources', () => {
    const keys = resolveAssertions({ expected: 'x', expectedSources: ['a.md'] }).map((a) => a.key);
    expect(keys).toEqual(['contains', 'hit@k', 'mrr']);
  });

  it('keeps explicit assertions, numbering repeats, and fills thresholds', () => {
    const list = resolveAssertions({
      expected: 'x',
      assert: [
        { type: 'f1' },
        { type: 'regex', value: '\\d' },
        { type: 'regex', value: 'y', threshold: 0.5 },
      ],
    });
    expect(list.map((a) => [a.key, a.threshold])).toEqual([
      ['f1', 0.5],
      ['regex', 1],
      ['regex#2', 0.5],
    ]);
    expect(list[1]!.pattern).toBe('\\d');
  });

  it('fails assertions below threshold or without a score', () => {
    const list = resolveAssertions({ expected: 'x', expectedSources: ['a'] });
    expect(failedAssertions(list, { contains: 1, 'hit@k': 1, mrr: 0 })).toEqual([]);
    expect(failedAssertions(list, { contains: 0.5, 'hit@k': 1, mrr: 1 })).toEqual(['contains']);
    expect(failedAssertions(list, { contains: 1, mrr: 1 })).toEqual(['hit@k']);
    expect(failedAssertions([], undefined)).toEqual([]);
  });
});
