import { describe, expect, it } from 'vitest';

import {
  describeFullness,
  estimateJobBytes,
  fullestOf,
  parseMemoryInfo,
} from '../../src/producer/admission.ts';

describe('admission readings', () => {
  it('judges a cluster by its fullest master, by share of maxmemory', () => {
    const small = { usedBytes: 90, maxBytes: 100 };
    const big = { usedBytes: 500, maxBytes: 1000 };
    const unbounded = { usedBytes: 5000, maxBytes: 0 };
    expect(fullestOf([big, small, unbounded])).toBe(small);
    expect(fullestOf([unbounded, big])).toBe(big);
    expect(fullestOf([{ usedBytes: 10, maxBytes: 0 }, unbounded])).toBe(unbounded);
  });

  it('reads used_memory and maxmemory from INFO memory', () => {
    const info = [
      '# Memory',
      'used_memory:7340032',
      'used_memory_human:7.00M',
      'used_memory_rss:9000000',
      'maxmemory:8388608',
      'maxmemory_human:8.00M',
      'maxmemory_policy:noeviction',
    ].join('\r\n');
    expect(parseMemoryInfo(info)).toEqual({ usedBytes: 7_340_032, maxBytes: 8_388_608 });
    expect(parseMemoryInfo('# Memory\r\nused_memory:100\r\n')).toEqual({
      usedBytes: 100,
      maxBytes: 0,
    });
  });

  it('estimates a job as its data plus a fixed overhead, averaged over a batch', () => {
    expect(estimateJobBytes([])).toBe(0);
    const small = estimateJobBytes([{ question: 'a' }]);
    const mixed = estimateJobBytes([{ question: 'a' }, { question: 'a'.repeat(2001) }]);
    expect(mixed - small).toBe(1000);
  });

  it('describes memory against the mark in words', () => {
    const mib = 1024 * 1024;
    expect(
      describeFullness({
        state: 'refusing',
        usedBytes: 7 * mib,
        maxBytes: 8 * mib,
        highWaterBytes: 6.8 * mib,
      }),
    ).toBe('Redis uses 7.0 MiB, past its high-water mark of 6.8 MiB (85 % of 8.0 MiB)');
    expect(
      describeFullness({ state: 'unbounded', usedBytes: mib, maxBytes: 0, highWaterBytes: 0 }),
    ).toBe('Redis uses 1.0 MiB (no maxmemory)');
  });
});
