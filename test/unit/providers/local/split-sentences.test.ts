import { describe, expect, it } from 'vitest';

import { splitSentences } from '../../../../src/worker/providers/local/split-sentences.ts';

describe('splitSentences', () => {
  it('splits English on . ! ? followed by a space', () => {
    expect(splitSentences('It retries. Does it stop? Yes!')).toEqual([
      'It retries.',
      'Does it stop?',
      'Yes!',
    ]);
  });

  it('does not break decimals, abbreviations or initials', () => {
    expect(
      splitSentences('Wait 30.5 seconds, e.g. for a reset. Ask J. Smith about LCEL. Done.'),
    ).toEqual(['Wait 30.5 seconds, e.g. for a reset.', 'Ask J. Smith about LCEL.', 'Done.']);
  });

  it('splits Chinese on 。！？； without spaces, keeping closing quotes', () => {
    expect(splitSentences('第一句。第二句！第三句？第四句；“第五句。”第六句')).toEqual([
      '第一句。',
      '第二句！',
      '第三句？',
      '第四句；',
      '“第五句。”',
      '第六句',
    ]);
  });

  it('splits on line breaks and drops blank or punctuation-only pieces', () => {
    expect(splitSentences('# Title\n\nfirst line\r\n---\nsecond line')).toEqual([
      '# Title',
      'first line',
      'second line',
    ]);
  });
});
