import { Queue, UnrecoverableError, Worker } from 'bullmq';
import { afterEach, describe, expect, it } from 'vitest';

import type { CaseResult } from '../../src/producer/eval/case-result.ts';
import { RunFollower } from '../../src/producer/eval/run-follower.ts';
import { QUESTIONS_QUEUE } from '../../src/shared/contracts.ts';
import { deletePrefix, testConnection, uniquePrefix } from '../support/redis.ts';

const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

describe('RunFollower', () => {
  it('finds a case whose finish event it missed while other producers’ jobs keep finishing', async () => {
    const prefix = uniquePrefix('run-follower');
    const connection = testConnection('producer');
    const workerConnection = testConnection('worker');
    const eventsConnection = testConnection('worker');
    closers.push(async () => {
      await deletePrefix(connection, prefix);
      await Promise.all([connection, workerConnection, eventsConnection].map((c) => c.quit()));
    });
    const queue = new Queue(QUESTIONS_QUEUE, { connection, prefix });
    closers.push(() => queue.close());
    const worker = new Worker(
      QUESTIONS_QUEUE,
      async (job) => {
        if (job.id === 'case-job') throw new UnrecoverableError('no answer');
        return 'foreign answer';
      },
      { connection: workerConnection, prefix },
    );
    closers.push(() => worker.close());

    // The case finishes before the follower listens: its event is behind the follower's start,
    // as one trimmed from the capped stream (ASKQ_EVENTS_MAX_LEN) would be.
    const failed = new Promise<void>((resolve) =>
      worker.on('failed', (job) => job?.id === 'case-job' && resolve()),
    );
    await queue.add('answer', { question: 'q' }, { jobId: 'case-job' });
    await failed;

    const results: CaseResult[] = [];
    const follower = new RunFollower({
      connection,
      eventsConnection,
      prefix,
      reconcileAfterMs: 300,
      onResults: (batch) => void results.push(...batch),
    });
    closers.push(() => follower.close());
    await follower.start();
    follower.track(['case-job'], [{ id: 'case-1', where: 'line 1', question: 'q' }]);

    // Another producer's questions finish on the same queue every 50 ms throughout.
    const foreign = setInterval(() => void queue.add('answer', { question: 'other' }), 50);
    closers.push(async () => clearInterval(foreign));
    const done = follower.waitBelow(0);
    const outcome = await Promise.race([
      done.then(() => 'followed'),
      new Promise((resolve) => setTimeout(() => resolve('still waiting'), 4_000)),
    ]);

    expect(outcome).toBe('followed');
    expect(results.map((r) => [r.id, r.status])).toEqual([['case-1', 'error']]);
  });
});
