import { afterEach, describe, expect, it } from 'vitest';

import { SECOND } from '../../src/shared/time.ts';
import {
  duplicateResults,
  type FaultStack,
  maxOf,
  printFigures,
  startFaultStack,
} from '../support/fault-stack.ts';

const JOBS = 300;
const CONCURRENCY = 10;
const GRACE_MS = 10_000;
const LOCK_MS = 5 * SECOND;

let stack: FaultStack | undefined;
afterEach(async () => {
  await stack?.close();
  stack = undefined;
});

describe('fault: SIGTERM during a run', () => {
  it('the worker drains its active jobs and exits 0; no job stalls, none is lost', async () => {
    stack = await startFaultStack({
      env: {
        ASKQ_CONCURRENCY: String(CONCURRENCY),
        ASKQ_SHUTDOWN_GRACE_MS: String(GRACE_MS),
        // Short locks: a job the worker left behind would be found stalled within seconds. Not
        // shorter: the worker renews its locks every half lock, a loaded machine can delay that
        // renewal by more than half a second, and a lock lapsing under a working worker makes
        // it find its own job stalled.
        ASKQ_LOCK_DURATION_MS: String(LOCK_MS),
        ASKQ_STALLED_INTERVAL_MS: '1000',
      },
      // Slow enough that jobs are mid-call when the signal arrives.
      fake: { latencyMs: 150 },
    });
    const s = stack;
    const started = Date.now();
    const first = await s.spawnWorker();
    const ids = await s.enqueue(JOBS);
    await s.waitFor(
      '50 jobs to complete',
      async () => (await s.queue.getCompletedCount()) >= 50,
      60_000,
    );

    const activeAtSignal = (await s.queue.getActive()).map((j) => j.id!);
    const chatInFlight = s.fake.calls.chat;
    const signalledAt = Date.now();
    first.child.kill('SIGTERM');
    const exit = await Promise.race([
      first.exited,
      new Promise<never>((_, reject) =>
        setTimeout(
          () => reject(new Error(`no exit ${GRACE_MS + 5000} ms after SIGTERM`)),
          GRACE_MS + 5000,
        ),
      ),
    ]);
    const drainMs = Date.now() - signalledAt;
    // From the worker's own log: when its last job finished, and when it said it was closed.
    const logged = (msg: string) =>
      first
        .logLines()
        .filter((l) => l.msg === msg)
        .map((l) => Date.parse(String(l.time)) - signalledAt);
    const lastAnswerAfterSignalMs = Math.max(...logged('answered'));
    const closedAfterSignalMs = Math.max(...logged('worker closed'));
    const afterExit = await s.outcomes(ids);
    const counts = await s.queue.getJobCounts(
      'active',
      'completed',
      'failed',
      'waiting',
      'delayed',
    );

    // A second worker finishes the rest; it would also recover anything the first left active.
    const second = await s.spawnWorker();
    await s.waitForFinished(ids, 60_000);
    const seconds = (Date.now() - started) / 1000;
    const outcomes = await s.outcomes(ids);
    const completed = outcomes.filter((o) => o.state === 'completed');
    second.child.kill('SIGTERM');
    const secondExit = await second.exited;

    printFigures('sigterm-drain', {
      jobs: JOBS,
      completed: completed.length,
      lost: JOBS - completed.length,
      duplicateResults: duplicateResults(s.events),
      activeAtSignal: activeAtSignal.length,
      exitCode: exit.code,
      lastAnswerAfterSignalMs,
      closedAfterSignalMs,
      exitAfterSignalMs: drainMs,
      completedByFirstWorker: counts.completed,
      leftWaiting: counts.waiting,
      leftActive: counts.active,
      stalledEvents: [...s.events.stalled.values()].reduce((a, b) => a + b, 0),
      chatCalls: s.fake.calls.chat,
      embeddingCalls: s.fake.calls.embeddings,
      clientAborts: s.fake.clientAborts,
      maxAttempts: maxOf(completed.map((o) => o.attempts)),
      maxStarts: maxOf(outcomes.map((o) => o.attemptsStarted)),
      seconds,
    });

    expect(exit, first.output().slice(-2000)).toEqual({ code: 0, signal: null });
    expect(secondExit).toEqual({ code: 0, signal: null });
    // Mid-run: the signal caught jobs in flight and left others waiting.
    expect(activeAtSignal.length).toBeGreaterThan(0);
    expect(chatInFlight).toBeLessThan(JOBS);
    expect(counts.waiting).toBeGreaterThan(0);
    // Drained: nothing left active, every job active at the signal finished there.
    expect(counts.active).toBe(0);
    expect(counts.failed).toBe(0);
    for (const id of activeAtSignal) {
      expect(afterExit.find((o) => o.id === id)?.state, `job ${id} active at SIGTERM`).toBe(
        'completed',
      );
    }
    for (const o of afterExit) expect(['completed', 'waiting']).toContain(o.state);
    // No job stalled or ran twice: one start, one attempt, one call each.
    expect(completed).toHaveLength(JOBS);
    expect(s.events.stalled.size).toBe(0);
    for (const o of outcomes) {
      expect(o, `job ${o.id}`).toMatchObject({
        attemptsStarted: 1,
        stalledCounter: 0,
        attempts: 1,
      });
    }
    expect(s.fake.calls.chat).toBe(JOBS);
    const numbers = ids.map((_, n) => n);
    expect(numbers.filter((n) => s.perQuestion.chat.get(n) !== 1)).toEqual([]);
    expect(numbers.filter((n) => s.perQuestion.embedded.get(n) !== 1)).toEqual([]);
    expect(s.fake.clientAborts).toBe(0);
  }, 150_000);
});
