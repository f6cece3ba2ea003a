import { afterEach, describe, expect, it } from 'vitest';

import type { BreakerState } from '../../src/worker/askq-worker.ts';
import type { ScriptedBehaviour } from '../support/fake-openai-server.ts';
import {
  duplicateResults,
  type FaultStack,
  maxOf,
  printFigures,
  startFaultStack,
} from '../support/fault-stack.ts';

const JOBS = 300;
const OFF_JOBS = 50;
const CONCURRENCY = 10;
const VOLUME = 5;
const RESET_MS = 1000;
const AFTER_MS = 1000;

/** The scenario's settings: breaker, backoff, and the chat fallback (or not). */
function settings(fallback: 'extractive' | undefined, extra: Record<string, string> = {}) {
  return {
    ASKQ_CONCURRENCY: String(CONCURRENCY),
    ASKQ_BREAKER_VOLUME: String(VOLUME),
    ASKQ_BREAKER_ERROR_PERCENT: '50',
    ASKQ_BREAKER_RESET_MS: String(RESET_MS),
    ASKQ_BACKOFF_MS: '100',
    ASKQ_BACKOFF_MAX_MS: '1000',
    ...(fallback
      ? { ASKQ_CHAT_FALLBACK: fallback, ASKQ_CHAT_FALLBACK_AFTER_MS: String(AFTER_MS) }
      : {}),
    ...extra,
  };
}

/** The chat model answers every request with `behaviour` for the whole run. */
async function chatDown(env: Record<string, string>, behaviour: ScriptedBehaviour) {
  return startFaultStack({
    env,
    fake: { decide: (route) => (route === 'chat' ? behaviour : undefined) },
  });
}

let stack: FaultStack | undefined;
afterEach(async () => {
  await stack?.close();
  stack = undefined;
});

describe('fault: the chat model down for the whole run', () => {
  it('with ASKQ_CHAT_FALLBACK=extractive every question completes degraded, from its sources', async () => {
    stack = await chatDown(settings('extractive'), { status: 500 });
    const started = Date.now();
    const worker = await stack.startWorker();
    const breaker: { state: BreakerState; at: number }[] = [];
    worker.on('breaker:state', ({ dependency, state }) => {
      if (dependency === 'chat') breaker.push({ state, at: Date.now() });
    });
    const ids = await stack.enqueue(JOBS);
    await stack.waitForFinished(ids, 90_000);
    const seconds = (Date.now() - started) / 1000;
    const outcomes = await stack.outcomes(ids);
    const completed = outcomes.filter((o) => o.state === 'completed');
    const reasons: Record<string, number> = {};
    for (const o of completed) {
      const reason = o.result?.degradedReason ?? 'none';
      reasons[reason] = (reasons[reason] ?? 0) + 1;
    }
    // Calls the breaker let through: the failures that open it, the calls already in flight,
    // and one half-open trial per reset period of the run.
    const bound = VOLUME + CONCURRENCY + Math.ceil((seconds * 1000) / RESET_MS) + 1;
    printFigures('chat-fallback', {
      jobs: JOBS,
      completed: completed.length,
      failed: outcomes.filter((o) => o.state === 'failed').length,
      lost: outcomes.filter((o) => o.state !== 'completed' && o.state !== 'failed').length,
      duplicateResults: duplicateResults(stack.events),
      degradedReasons: reasons,
      chatCalls: stack.fake.calls.chat,
      embeddingCalls: stack.fake.calls.embeddings,
      chatCallBound: bound,
      breakerOpens: breaker.filter((b) => b.state === 'open').length,
      maxAttempts: maxOf(completed.map((o) => o.attempts)),
      maxStarts: maxOf(outcomes.map((o) => o.attemptsStarted)),
      seconds,
    });

    expect(completed).toHaveLength(JOBS);
    expect(await stack.queue.getFailedCount()).toBe(0);
    for (const o of completed) {
      expect(o.result, `job ${o.id}`).toMatchObject({
        degraded: true,
        degradedReason: 'chat_unavailable',
        model: 'extractive-v1',
      });
      expect(o.result!.sources.length, `sources of job ${o.id}`).toBeGreaterThan(0);
      expect(o.result!.answer).not.toBe('');
    }
    // The breaker still opened, and kept the calls to the dead model bounded.
    expect(breaker.some((b) => b.state === 'open')).toBe(true);
    expect(stack.fake.calls.chat).toBeLessThanOrEqual(bound);
    expect(duplicateResults(stack.events)).toBe(0);
  }, 120_000);

  it('a 401 still fails every job unrecoverably: no fallback hides a misconfiguration', async () => {
    stack = await chatDown(settings('extractive'), { status: 401 });
    const started = Date.now();
    await stack.startWorker();
    const ids = await stack.enqueue(JOBS);
    await stack.waitForFinished(ids, 60_000);
    const outcomes = await stack.outcomes(ids);
    printFigures('chat-fallback-401', {
      jobs: JOBS,
      completed: outcomes.filter((o) => o.state === 'completed').length,
      failed: outcomes.filter((o) => o.state === 'failed').length,
      lost: outcomes.filter((o) => o.state !== 'completed' && o.state !== 'failed').length,
      duplicateResults: duplicateResults(stack.events),
      chatCalls: stack.fake.calls.chat,
      embeddingCalls: stack.fake.calls.embeddings,
      maxStarts: maxOf(outcomes.map((o) => o.attemptsStarted)),
      seconds: (Date.now() - started) / 1000,
    });

    for (const o of outcomes) {
      expect(o, `job ${o.id}`).toMatchObject({
        state: 'failed',
        attemptsStarted: 1,
        errorClass: 'permanent',
      });
      expect(o.failedReason).toMatch(/HTTP 401/);
    }
    // One call per job: nothing retried, nothing answered by the fallback.
    expect(stack.fake.calls.chat).toBe(JOBS);
    expect(stack.events.completed.size).toBe(0);
  }, 90_000);

  it('with the default setting the jobs retry and end in the failed list, as before', async () => {
    stack = await chatDown(settings(undefined, { ASKQ_JOB_DEADLINE_MS: '2000' }), {
      status: 500,
    });
    const started = Date.now();
    await stack.startWorker();
    // Fewer jobs: without the fallback an open breaker admits a handful of first starts per
    // reset period, and each job's deadline counts from its first start.
    const ids = await stack.enqueue(OFF_JOBS);
    await stack.waitForFinished(ids, 60_000);
    const outcomes = await stack.outcomes(ids);
    const classes: Record<string, number> = {};
    for (const o of outcomes)
      classes[o.errorClass ?? 'none'] = (classes[o.errorClass ?? 'none'] ?? 0) + 1;
    printFigures('chat-fallback-off', {
      jobs: OFF_JOBS,
      completed: outcomes.filter((o) => o.state === 'completed').length,
      failed: outcomes.filter((o) => o.state === 'failed').length,
      lost: outcomes.filter((o) => o.state !== 'completed' && o.state !== 'failed').length,
      errorClasses: classes,
      chatCalls: stack.fake.calls.chat,
      embeddingCalls: stack.fake.calls.embeddings,
      maxStarts: maxOf(outcomes.map((o) => o.attemptsStarted)),
      seconds: (Date.now() - started) / 1000,
    });

    expect(stack.events.completed.size).toBe(0);
    for (const o of outcomes) {
      expect(o.state, `job ${o.id}`).toBe('failed');
      expect(o.failedReason).toMatch(/deadline of 2000 ms passed|gave up after/);
    }
    // Retried, not failed at once: more starts than jobs.
    expect(maxOf(outcomes.map((o) => o.attemptsStarted))).toBeGreaterThan(1);
  }, 90_000);
});
