import { DelayedError, type Job, UnrecoverableError } from 'bullmq';
import { describe, expect, it } from 'vitest';

import { PermanentError, TransientError } from '../../../src/shared/errors.ts';
import { settleFailure } from '../../../src/worker/attempt/settle-failure.ts';

/** The two Job methods settleFailure uses, recorded; `failWrites` makes Redis "go away". */
function fakeJob(failWrites = false) {
  const calls: string[] = [];
  const job = {
    data: { question: 'q' },
    async updateData(data: unknown) {
      calls.push(`updateData ${JSON.stringify((data as { __askq: unknown }).__askq)}`);
      if (failWrites) throw new Error('Connection is closed.');
    },
    async moveToDelayed(timestamp: number) {
      calls.push(`moveToDelayed ${timestamp > Date.now() - 1000}`);
    },
  };
  return { job: job as unknown as Job, calls };
}

const policy = { attempts: 3, baseMs: 10, maxMs: 10 };

describe('settleFailure', () => {
  it('moves a transient failure to delayed, counting the attempt in the job', async () => {
    const { job, calls } = fakeJob();
    const state = { attempt: 1 };
    const { error: err, outcome } = await settleFailure(new TransientError('503'), {
      job,
      token: 't',
      state,
      policy,
      pauseQueue: async () => {},
    });
    expect(err).toBeInstanceOf(DelayedError);
    expect(outcome).toMatchObject({ action: 'retry', failure: 'transient', reason: '503' });
    expect(calls).toEqual([
      'updateData {"attempt":1,"lastErrorClass":"transient","lastError":"503"}',
      'moveToDelayed true',
    ]);
  });

  it('fails a permanent error as unrecoverable with its reason', async () => {
    const { job } = fakeJob();
    const { error: err, outcome } = await settleFailure(new PermanentError('401 from chat'), {
      job,
      token: 't',
      state: { attempt: 1 },
      policy,
      pauseQueue: async () => {},
    });
    expect(err).toBeInstanceOf(UnrecoverableError);
    expect((err as Error).message).toBe('401 from chat');
    expect(outcome).toMatchObject({ action: 'failed', failure: 'permanent' });
  });

  it('leaves the job to stalled-job recovery when Redis fails while rescheduling it', async () => {
    const { job, calls } = fakeJob(true);
    const { error: err, outcome } = await settleFailure(new TransientError('503'), {
      job,
      token: 't',
      state: { attempt: 1 },
      policy,
      pauseQueue: async () => {},
    });
    // Not a plain error, which BullMQ would apply the job's own (single) attempt to.
    expect(err).toBeInstanceOf(DelayedError);
    expect((err as Error).message).toMatch(/left to stalled-job recovery/);
    expect(calls).toHaveLength(1);
    expect(outcome.action).toBe('stranded');
  });
});
