import { afterEach, describe, expect, it } from 'vitest';

import type { ScriptedBehaviour } from '../support/fake-openai-server.ts';
import {
  duplicateResults,
  type FaultStack,
  maxOf,
  printFigures,
  questionNumbers,
  startFaultStack,
} from '../support/fault-stack.ts';

const JOBS = 300;
/** Every 15th question gets a 401, every 15th (offset 7) an `insufficient_quota` 429. */
const isUnauthorized = (n: number) => n % 15 === 0;
const isOutOfQuota = (n: number) => n % 15 === 7;

const UNAUTHORIZED: ScriptedBehaviour = { status: 401 };
const OUT_OF_QUOTA: ScriptedBehaviour = {
  status: 429,
  // OpenAI sends a retry-after even here; waiting would not help, so it must be ignored.
  headers: { 'retry-after': '20' },
  body: {
    error: {
      message: 'You exceeded your current quota, please check your plan and billing details.',
      type: 'insufficient_quota',
      param: null,
      code: 'insufficient_quota',
    },
  },
};

let stack: FaultStack | undefined;
afterEach(async () => {
  await stack?.close();
  stack = undefined;
});

describe('fault: permanent provider errors', () => {
  it('a 401 and an insufficient_quota 429 fail their jobs after one attempt and one call', async () => {
    stack = await startFaultStack({
      env: { ASKQ_CONCURRENCY: '10', ASKQ_BACKOFF_MS: '50', ASKQ_BACKOFF_MAX_MS: '200' },
      fake: {
        decide: (route, request) => {
          const [n] = questionNumbers(request);
          if (route !== 'chat' || n === undefined) return undefined;
          if (isUnauthorized(n)) return UNAUTHORIZED;
          if (isOutOfQuota(n)) return OUT_OF_QUOTA;
          return undefined;
        },
      },
    });
    const started = Date.now();
    await stack.startWorker();
    const ids = await stack.enqueue(JOBS);
    await stack.waitForFinished(ids, 60_000);
    const outcomes = await stack.outcomes(ids);
    const seconds = (Date.now() - started) / 1000;

    const byNumber = outcomes.map((o, n) => ({ ...o, n }));
    const unauthorized = byNumber.filter((o) => isUnauthorized(o.n));
    const outOfQuota = byNumber.filter((o) => isOutOfQuota(o.n));
    const healthy = byNumber.filter((o) => !isUnauthorized(o.n) && !isOutOfQuota(o.n));
    const completed = outcomes.filter((o) => o.state === 'completed');
    const failed = outcomes.filter((o) => o.state === 'failed');
    printFigures('permanent-errors', {
      jobs: JOBS,
      completed: completed.length,
      failed: failed.length,
      lost: outcomes.filter((o) => o.state !== 'completed' && o.state !== 'failed').length,
      duplicateResults: duplicateResults(stack.events),
      unauthorizedJobs: unauthorized.length,
      quotaJobs: outOfQuota.length,
      chatCalls: stack.fake.calls.chat,
      embeddingCalls: stack.fake.calls.embeddings,
      maxAttempts: maxOf(completed.map((o) => o.attempts)),
      maxStartsOfFailed: maxOf(failed.map((o) => o.attemptsStarted)),
      seconds,
    });

    for (const o of unauthorized) {
      expect(o, `job ${o.n} (401)`).toMatchObject({
        state: 'failed',
        attemptsStarted: 1,
        errorClass: 'permanent',
      });
      expect(o.failedReason).toMatch(/HTTP 401.*invalid_api_key/);
    }
    for (const o of outOfQuota) {
      expect(o, `job ${o.n} (quota)`).toMatchObject({
        state: 'failed',
        attemptsStarted: 1,
        errorClass: 'permanent',
      });
      expect(o.failedReason).toMatch(/insufficient_quota/);
    }
    for (const o of healthy) {
      expect(o, `job ${o.n}`).toMatchObject({
        state: 'completed',
        attempts: 1,
        attemptsStarted: 1,
      });
    }
    expect(unauthorized).toHaveLength(20);
    expect(outOfQuota).toHaveLength(20);
    // Exactly one chat call per job, failed ones included: nothing retried, nothing paused.
    const numbers = ids.map((_, n) => n);
    expect(numbers.filter((n) => stack!.perQuestion.chat.get(n) !== 1)).toEqual([]);
    expect(stack.fake.calls.chat).toBe(JOBS);
    expect(numbers.filter((n) => stack!.perQuestion.embedded.get(n) !== 1)).toEqual([]);
    expect(duplicateResults(stack.events)).toBe(0);
    expect(stack.events.completed.size).toBe(JOBS - 40);
    // The quota error's retry-after (20 s) did not pause the queue.
    expect(seconds).toBeLessThan(20);
  }, 90_000);
});
