import { describe, expect, it } from 'vitest';

import { DEFAULTS } from '../../src/shared/defaults.ts';
import { jobRetention } from '../../src/shared/queue-options.ts';

const defaults = {
  keepCompleted: DEFAULTS.keepCompleted,
  keepFailed: DEFAULTS.keepFailed,
  keepSeconds: DEFAULTS.keepSeconds,
};

describe('jobRetention', () => {
  it('puts nothing on a job at the defaults: the worker applies the same bounds', () => {
    expect(jobRetention(defaults)).toEqual({});
  });

  it('puts only the bound that differs, with the age both share', () => {
    expect(jobRetention({ ...defaults, keepFailed: 10 })).toEqual({
      removeOnFail: { count: 10, age: DEFAULTS.keepSeconds },
    });
    expect(jobRetention({ ...defaults, keepSeconds: 60 })).toEqual({
      removeOnComplete: { count: DEFAULTS.keepCompleted, age: 60 },
      removeOnFail: { count: DEFAULTS.keepFailed, age: 60 },
    });
  });
});
