import { afterEach, describe, expect, it } from 'vitest';

import { RedisUnavailableError } from '../../src/shared/errors.ts';
import { SECOND } from '../../src/shared/time.ts';
import {
  defaultQuestion,
  type FaultStack,
  maxOf,
  printFigures,
  startFaultStack,
  type WorkerProcess,
} from '../support/fault-stack.ts';

const JOBS = 300;
const CONCURRENCY = 5;
/** The producer adds this many questions every {@link PACE_MS}: 25 a second. */
const PER_TICK = 5;
const PACE_MS = 200;
/** How long Redis stays down: longer than a job's lock, so every active job's lock expires. */
const REDIS_DOWN_MS = 2000;

let stack: FaultStack | undefined;
afterEach(async () => {
  await stack?.close();
  stack = undefined;
});

const tick = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('fault: crashes of a worker and of Redis', () => {
  it('every job accepted more than a second before a crash completes exactly once', async () => {
    stack = await startFaultStack({
      env: {
        ASKQ_CONCURRENCY: String(CONCURRENCY),
        ASKQ_LOCK_DURATION_MS: '1000',
        ASKQ_STALLED_INTERVAL_MS: '1000',
        ASKQ_BACKOFF_MS: '50',
        ASKQ_BACKOFF_MAX_MS: '500',
      },
      fake: { latencyMs: 100 },
    });
    const s = stack;
    const started = Date.now();
    const workers: WorkerProcess[] = await Promise.all([s.spawnWorker(), s.spawnWorker()]);

    // The producer: job ids of its own, so re-adding after an ambiguous failure is a no-op.
    const accepted = new Map<string, number>();
    let refused = 0;
    const producer = (async () => {
      for (let i = 0; i < JOBS; i += 1) {
        const id = `job-${i}`;
        for (;;) {
          try {
            await s.client.ask({ question: defaultQuestion(i) }, { jobId: id });
            accepted.set(id, Date.now());
            break;
          } catch (err) {
            if (!(err instanceof RedisUnavailableError)) throw err;
            refused += 1; // Redis is down: the producer was told at once; try again shortly
            await tick(100);
          }
        }
        if (i % PER_TICK === PER_TICK - 1) await tick(PACE_MS);
      }
    })();
    const completed = async () => (await s.queue.getCompletedCount()) ?? 0;

    // 1. SIGKILL a worker mid-run, start a new one; stalled-job recovery hands its jobs on.
    await s.waitFor('40 completed', async () => (await completed()) >= 40, 60_000);
    // The victim must hold jobs when it dies, or there is nothing to recover (at 25 questions
    // a second and 100 ms calls both workers are often idle): the model slows down until more
    // jobs are active than one worker takes, so each worker holds at least one.
    const latencyMs = s.fake.latencyMs;
    s.fake.latencyMs = 5_000;
    await s.waitFor(
      'both workers busy',
      async () => (await s.queue.getActive()).length > CONCURRENCY,
      30_000,
    );
    const victim = workers[0]!;
    const activeAtWorkerCrash = (await s.queue.getActive()).length; // in both workers
    victim.child.kill('SIGKILL');
    const workerKilledAt = Date.now();
    s.fake.latencyMs = latencyMs;
    expect(await victim.exited).toMatchObject({ signal: 'SIGKILL' });
    workers.push(await s.spawnWorker());
    await s.waitFor('a stalled job to be recovered', async () => s.events.stalled.size > 0, 20_000);

    // 2. SIGKILL Redis mid-run; bring it back on the same port and folder from its AOF.
    await s.waitFor('180 accepted', async () => accepted.size >= 180, 60_000);
    const redisKilledAt = Date.now();
    const acceptedBeforeRedisCrash = accepted.size;
    const stalledAfterWorkerCrash = s.events.stalled.size;
    await s.killRedis();
    await tick(REDIS_DOWN_MS); // the outage's length, a parameter of the scenario
    await s.restartRedis();
    const redisBackAt = Date.now();

    await producer;
    const ids = [...accepted.keys()];
    const protectedIds = ids.filter((id) => accepted.get(id)! < redisKilledAt - 1000);
    // Bounded by progress: fails once no job has finished for a minute, twice the default call
    // timeout that gives up a call the crashes left hanging.
    await s.waitForFinished(protectedIds, 60 * SECOND);
    await s.waitForFinished(ids, 60 * SECOND);
    const seconds = (Date.now() - started) / 1000;
    const outcomes = await s.outcomes(ids);
    const done = outcomes.filter((o) => o.state === 'completed');
    const completedEvents = ids.map((id) => s.events.completed.get(id) ?? 0);
    const answered = new Map<string, number>();
    for (const w of workers) {
      for (const line of w.logLines()) {
        if (line.msg !== 'answered') continue;
        const id = String(line.job_id);
        answered.set(id, (answered.get(id) ?? 0) + 1);
      }
    }
    const computedTwice = [...answered.values()].filter((n) => n > 1).length;

    printFigures('crash-recovery', {
      jobs: JOBS,
      accepted: ids.length,
      protected: protectedIds.length,
      completed: done.length,
      lost: ids.length - done.length,
      duplicateResults: completedEvents.filter((n) => n > 1).length,
      completedEventsMissed: completedEvents.filter((n) => n === 0).length,
      acceptedBeforeRedisCrash,
      producerRefusalsWhileDown: refused,
      activeAtWorkerCrash,
      stalledAfterWorkerCrash,
      stalledTotal: s.events.stalled.size,
      workerCrashAtMs: workerKilledAt - started,
      redisCrashAtMs: redisKilledAt - started,
      redisDownMs: redisBackAt - redisKilledAt,
      chatCalls: s.fake.calls.chat,
      embeddingCalls: s.fake.calls.embeddings,
      extraChatCalls: s.fake.calls.chat - done.length,
      answersComputed: [...answered.values()].reduce((a, b) => a + b, 0),
      jobsAnsweredTwice: computedTwice,
      clientAborts: s.fake.clientAborts,
      maxAttempts: maxOf(done.map((o) => o.attempts)),
      maxStalledCounter: maxOf(outcomes.map((o) => o.stalledCounter)),
      maxStarts: maxOf(outcomes.map((o) => o.attemptsStarted)),
      seconds,
    });

    expect(ids).toHaveLength(JOBS);
    expect(stalledAfterWorkerCrash).toBeGreaterThan(0);
    expect(refused, 'the producer should have met Redis down').toBeGreaterThan(0);
    expect(protectedIds.length).toBeGreaterThanOrEqual(150);
    for (const id of protectedIds) {
      const o = outcomes.find((x) => x.id === id)!;
      expect(o.state, `job ${id} (accepted before the crash)`).toBe('completed');
      expect(o.result?.answer, `job ${id}'s answer`).toBeTruthy();
    }
    // Every job ended completed, and none completed twice (a stalled job may have been
    // answered twice; only one result may be recorded).
    expect(
      outcomes.filter((o) => o.state !== 'completed').map((o) => `${o.id}:${o.state}`),
    ).toEqual([]);
    expect(completedEvents.filter((n) => n > 1)).toEqual([]);
  }, 180_000);
});
