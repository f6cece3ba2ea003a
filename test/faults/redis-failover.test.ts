import { afterEach, describe, expect, it } from 'vitest';

import { RedisUnavailableError } from '../../src/shared/errors.ts';
import type { LocalRedis } from '../../src/shared/local-redis.ts';
import { ReplicaWaitError } from '../../src/shared/wait-replicas.ts';
import {
  defaultQuestion,
  type FaultStack,
  maxOf,
  printFigures,
  startFaultStack,
  type WorkerProcess,
} from '../support/fault-stack.ts';
import { waitReplicaInSync } from '../support/redis-processes.ts';

const JOBS = 300;
const CONCURRENCY = 5;
/** The producer adds this many questions every {@link PACE_MS}: 25 a second. */
const PER_TICK = 5;
const PACE_MS = 200;

let stack: FaultStack | undefined;
afterEach(async () => {
  await stack?.close();
  stack = undefined;
});

const tick = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Longest the producer keeps retrying one question before the test fails, saying why. */
const ACCEPT_DEADLINE_MS = 60_000;

/** How each topology finds, kills and brings back the master that holds askq's keys. */
const TOPOLOGIES = {
  cluster: {
    master: (s: FaultStack) => s.cluster!.masterOf(s.config.ASKQ_PREFIX),
    kill: (s: FaultStack, m: LocalRedis) => s.cluster!.kill(m),
    /** A replica took the slot over. */
    waitFailover: (s: FaultStack, old: LocalRedis) =>
      s.waitFor(
        'a new master for the slot',
        async () => (await s.cluster!.masterOf(s.config.ASKQ_PREFIX).catch(() => old)) !== old,
        60_000,
      ),
    restart: (s: FaultStack, m: LocalRedis) => s.cluster!.restart(m),
    /** The restarted node serves the slot's new master as its replica. */
    waitReplicated: (_s: FaultStack, restarted: LocalRedis) => waitReplicaInSync(restarted, 60_000),
  },
  sentinel: {
    master: (s: FaultStack) => s.sentinel!.master(),
    kill: (s: FaultStack, m: LocalRedis) => s.sentinel!.kill(m),
    /** Every sentinel names the promoted replica (only then may the old master come back). */
    waitFailover: async (s: FaultStack, old: LocalRedis) => {
      await s.sentinel!.waitFailover(old, 60_000);
    },
    // As the new master's replica: the sentinels would convert it too, but only after seeing
    // it a master for a while, which took over 60 s on a loaded machine; askq is under test.
    // Never promoted. The sentinels call a master down after one silent second; on a loaded
    // machine (CI, other test files beside this one) this test failed twice in a day, once
    // waiting 60 s for this node to become a replica, once with the 65 questions accepted
    // before the kill missing from Redis. Both fit a second failover, to this node before it
    // had synced: it would then empty the new master, its replica from then on, which held
    // every accepted question (each had reached it before the kill, as ASKQ_REDIS_WAIT_REPLICAS
    // asks). That is Redis's choice to lose data, not askq's; with two data nodes the first
    // failover is the one under test.
    restart: (s: FaultStack, m: LocalRedis) =>
      s.sentinel!.restart(m, { asReplica: true, promotable: false }),
    /** The master the sentinels name has a replica in sync. */
    waitReplicated: (s: FaultStack) => s.sentinel!.waitHealthy(60_000),
  },
} as const;

describe.each(['cluster', 'sentinel'] as const)('fault: %s failover', (topology) => {
  const t = TOPOLOGIES[topology];

  it('SIGKILL of the master mid-run: every question answered once, none lost', async () => {
    stack = await startFaultStack({
      topology,
      env: {
        ASKQ_CONCURRENCY: String(CONCURRENCY),
        ASKQ_LOCK_DURATION_MS: '1000',
        ASKQ_STALLED_INTERVAL_MS: '1000',
        ASKQ_BACKOFF_MS: '50',
        ASKQ_BACKOFF_MAX_MS: '500',
        // An accepted question is on a replica too: the failover cannot take it away.
        ASKQ_REDIS_WAIT_REPLICAS: '1',
      },
      fake: { latencyMs: 100 },
    });
    const s = stack;
    const started = Date.now();
    const workers: WorkerProcess[] = await Promise.all([s.spawnWorker(), s.spawnWorker()]);

    // The producer: job ids of its own, so re-adding after an ambiguous failure is a no-op.
    const accepted = new Map<string, number>();
    let refused = 0;
    let replicaWaits = 0;
    const producer = (async () => {
      for (let i = 0; i < JOBS; i += 1) {
        const id = `job-${i}`;
        const deadline = Date.now() + ACCEPT_DEADLINE_MS;
        for (;;) {
          try {
            await s.client.ask({ question: defaultQuestion(i) }, { jobId: id });
            accepted.set(id, Date.now());
            break;
          } catch (err) {
            if (err instanceof ReplicaWaitError) replicaWaits += 1;
            else if (err instanceof RedisUnavailableError) refused += 1;
            else throw err;
            if (Date.now() > deadline) {
              throw new Error(
                `${id} not accepted within ${ACCEPT_DEADLINE_MS} ms (${refused} refusals, ` +
                  `${replicaWaits} replica waits); last: ${(err as Error).message}`,
                { cause: err },
              );
            }
            await tick(100); // no master, or no replica to confirm: try again shortly
          }
        }
        if (i % PER_TICK === PER_TICK - 1) await tick(PACE_MS);
      }
    })();
    // Its failure is reported where it is awaited, below, not as an unhandled rejection.
    producer.catch(() => {});

    await s.waitFor('60 completed', async () => (await s.queue.getCompletedCount()) >= 60, 60_000);
    const master = await t.master(s);
    const activeAtKill = (await s.queue.getActive()).length;
    const acceptedAtKill = accepted.size;
    const killedAt = Date.now();
    await t.kill(s, master);
    await t.waitFailover(s, master);
    const failedOverAt = Date.now();
    // The old master returns as the new one's replica, so WAIT can be confirmed again (in a
    // cluster, the cluster makes it one; with sentinels, it is started as one: see TOPOLOGIES).
    const restarted = await t.restart(s, master);
    await t.waitReplicated(s, restarted);

    await producer;
    const ids = [...accepted.keys()];
    await s.waitForFinished(ids, 120_000);
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

    printFigures(`${topology}-failover`, {
      jobs: JOBS,
      accepted: ids.length,
      completed: done.length,
      lost: ids.length - done.length,
      acceptedAtKill,
      activeAtKill,
      producerRefusals: refused,
      producerReplicaWaits: replicaWaits,
      failoverMs: failedOverAt - killedAt,
      stalledTotal: s.events.stalled.size,
      completedEventsMissed: completedEvents.filter((n) => n === 0).length,
      duplicateCompletedEvents: completedEvents.filter((n) => n > 1).length,
      answersComputed: [...answered.values()].reduce((a, b) => a + b, 0),
      jobsAnsweredTwice: [...answered.values()].filter((n) => n > 1).length,
      chatCalls: s.fake.calls.chat,
      maxStalledCounter: maxOf(outcomes.map((o) => o.stalledCounter)),
      maxStarts: maxOf(outcomes.map((o) => o.attemptsStarted)),
      seconds,
    });

    expect(ids).toHaveLength(JOBS);
    // Every accepted question ended completed with its answer: none lost in the failover.
    expect(
      outcomes.filter((o) => o.state !== 'completed').map((o) => `${o.id}:${o.state}`),
    ).toEqual([]);
    for (const o of outcomes) expect(o.result?.answer, `job ${o.id}'s answer`).toBeTruthy();
    // One result each: no job completed twice, however many times it was computed.
    expect(completedEvents.filter((n) => n > 1)).toEqual([]);
    // The jobs running on the dead master were handed on by the stalled-job check. It counts
    // each hand-on in the job's hash (`stalledCounter`) before it emits `stalled`, and the hash
    // is what the new master keeps: this test's QueueEvents connection may miss events while it
    // follows the failover (one run saw 240 of 300 `completed` and no `stalled`).
    expect(activeAtKill).toBeGreaterThan(0);
    expect(maxOf(outcomes.map((o) => o.stalledCounter))).toBeGreaterThan(0);
  }, 300_000);
});
