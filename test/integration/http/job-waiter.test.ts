import { afterEach, describe, expect, it } from 'vitest';

import { JobWaiter } from '../../../src/producer/http/job-waiter.ts';
import { testRedisSettings, uniquePrefix } from '../../support/redis.ts';

let waiter: JobWaiter | undefined;
afterEach(async () => {
  await waiter?.close();
  waiter = undefined;
});

describe('JobWaiter (the API’s ?wait=)', () => {
  it('notices a job that finished without an event reaching it, by reading its state again', async () => {
    waiter = new JobWaiter({ redis: testRedisSettings(), prefix: uniquePrefix(), recheckMs: 50 });
    await waiter.waitUntilReady();
    // The job "finishes" on the third look; no completed event is ever emitted (as when the
    // capped events stream was trimmed past this listener).
    let looks = 0;
    const started = performance.now();
    await waiter.wait('gone-from-the-stream', 10_000, async () => ++looks >= 3);
    expect(looks).toBeGreaterThanOrEqual(3);
    expect(performance.now() - started).toBeLessThan(5_000);
  });
});
