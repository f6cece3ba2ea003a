import { describe, expect, it } from 'vitest';

import { excerpt, sourcesForResult } from '../../src/worker/jobs/source-excerpts.ts';

const source = (text: string) => ({ id: 'a.md', chunk: 0, score: 0.5, text });

describe('sourcesForResult', () => {
  it('cuts each text to maxChars, keeps shorter ones as they are, and keeps every other field', () => {
    const long = source('x'.repeat(500));
    const short = source('short');
    const out = sourcesForResult([long, short], undefined, 300);
    expect(out[0]).toEqual({ ...long, text: 'x'.repeat(300) });
    expect(out[1]).toBe(short);
  });

  it('gives whole texts with "full" and empty strings with 0', () => {
    const long = source('y'.repeat(500));
    expect(sourcesForResult([long], 'full', 10)[0]!.text).toHaveLength(500);
    expect(sourcesForResult([long], 'excerpt', 0)[0]!.text).toBe('');
  });
});

describe('excerpt', () => {
  it('never ends on half a surrogate pair', () => {
    const text = `ab${'😀'}cd`; // the emoji is two UTF-16 units, at 2 and 3
    expect(excerpt(text, 3)).toBe('ab');
    expect(excerpt(text, 4)).toBe('ab😀');
  });
});
