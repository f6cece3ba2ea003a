/**
 * Provider limits (issue 7): the fake (own process) enforces 600 chat requests/minute as 10
 * per fixed 1-s window (429 with retry-after / retry-after-ms / x-ratelimit-* beyond; see
 * FakeRateLimit in test/support/fake-openai-server.ts), and askq runs with the same limit
 * (ASKQ_LLM_RPM=600) in two worker instances sharing the queue and the limit. Measures the
 * share of chat calls answered 429 and the throughput against the limit's 10/s. Bounded: at
 * most `--seconds` (default 45) of work.
 *
 *   node bench/provider-limits.ts [--rpm 600] [--seconds 45] [--concurrency 25]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { Queue } from 'bullmq';

import { CONFIG_KEYS } from '../src/shared/config.ts';
import { QUESTIONS_QUEUE } from '../src/shared/contracts.ts';
import { createRedisConnection } from '../src/shared/redis.ts';
import { MINUTE } from '../src/shared/time.ts';
import { SPACING_HEADROOM } from '../src/worker/resilience/call-limits.ts';
import { prefillPaused, startBenchWorker } from './lib/askq.ts';
import { type BenchRedis, benchRedis } from './lib/bench-redis.ts';
import { type BenchResult, ceilPercent, floorTo, fmt, runAsScript } from './lib/bench-result.ts';
import { questions } from './lib/instant-ports.ts';
import { startFakeProcess } from './lib/processes.ts';
import { pollUntil } from './lib/wait.ts';

export interface ProviderLimitsOptions {
  /** @defaultValue 600 */
  rpm?: number;
  /** Ideal run length at the limit; sizes the job count. @defaultValue 45 */
  seconds?: number;
  /** Concurrency of each of the two workers. @defaultValue 25 */
  concurrency?: number;
}

export async function run(options: ProviderLimitsOptions = {}): Promise<BenchResult> {
  const rpm = options.rpm ?? 600;
  const idealSeconds = options.seconds ?? 45;
  const concurrency = options.concurrency ?? 25;
  const workers = 2;
  const perSecond = rpm / 60;
  const jobs = Math.round(perSecond * idealSeconds);
  const t0 = performance.now();
  const implemented = (CONFIG_KEYS as string[]).includes('ASKQ_LLM_RPM');
  const fake = await startFakeProcess({ latencyMs: 50, rpm });
  const dir = await mkdtemp(join(tmpdir(), 'askq-bench-limits-'));
  let redis: BenchRedis | undefined;
  const m = { completed: 0, seconds: 0, failed: 0, perWorker: [] as number[] };
  const counted = { calls: { chat: 0, embeddings: 0, models: 0, rateLimited: 0 } };
  try {
    redis = await benchRedis('provider-limits');
    const prefix = 'bench-limits';
    const connection = createRedisConnection(redis.url, 'worker');
    const queue = new Queue(QUESTIONS_QUEUE, { connection, prefix });
    await prefillPaused(queue, questions(jobs), { removeOnComplete: { count: 10_000 } });
    const env = {
      REDIS_URL: redis.url,
      ASKQ_PREFIX: prefix,
      ASKQ_LLM: 'openai',
      ASKQ_EMBEDDINGS: 'local',
      ASKQ_VECTOR_STORE: 'local',
      ASKQ_LOCAL_STORE_DIR: join(dir, 'store'),
      OPENAI_API_KEY: 'sk-bench',
      OPENAI_BASE_URL: fake.url,
      ASKQ_LLM_RPM: String(rpm),
    };
    // Two workers on one queue and one limit, as two processes would share them.
    const pool = [];
    for (let i = 0; i < workers; i += 1) {
      const worker = await startBenchWorker({ env, concurrency });
      const index = i;
      m.perWorker[index] = 0;
      worker.questions.on('failed', () => (m.failed += 1));
      worker.questions.on('completed', () => (m.perWorker[index]! += 1));
      pool.push(worker);
    }
    const started = performance.now();
    await queue.resume();
    // Bounded: stop at 1.25 × the ideal time even if not everything is done.
    await pollUntil(
      async () => (await queue.getCompletedCount()) >= jobs,
      idealSeconds * 1250,
      100,
      'all jobs',
    ).catch(() => undefined);
    m.seconds = (performance.now() - started) / 1000;
    m.completed = await queue.getCompletedCount();
    await Promise.all(pool.map((w) => w.close(5_000)));
    await queue.obliterate({ force: true });
    await queue.close();
    connection.disconnect();
  } finally {
    counted.calls = await fake.stop();
    await redis?.stop();
    await rm(dir, { recursive: true, force: true });
  }
  const { completed, seconds, failed, perWorker } = m;
  const { calls } = counted;
  const share = calls.chat === 0 ? 0 : calls.rateLimited / calls.chat;
  const throughput = completed / seconds;
  return {
    id: 'provider-limits',
    title: 'Provider limits',
    compares: `askq with ASKQ_LLM_RPM=${rpm} (${workers} worker instances sharing the queue and the limit, concurrency ${concurrency} each, chat on the fake in its own process answering in 50 ms, local embeddings and store) against a fake enforcing ${rpm} requests/min as ${fmt(perSecond)} per fixed 1-s window (429 with retry-after, retry-after-ms and x-ratelimit-reset-requests beyond; rejected requests do not use the allowance), ${fmt(jobs)} questions pre-added (${idealSeconds} s of work at the limit), stopped at 1.25 × that at most: does the pool stay under the provider's limit instead of bouncing off it, while using all of it?`,
    goal: '429s < 1 % of calls, throughput ≥ 0.9 × the limit',
    figures: [
      {
        figure: 'questions answered / wall; failed jobs',
        measured: `${fmt(completed)} of ${fmt(jobs)} in ${fmt(seconds, 1)} s; ${fmt(failed)} failed`,
      },
      {
        figure: 'questions answered by each worker',
        measured: perWorker.map((n) => fmt(n)).join(' + '),
      },
      {
        figure: 'chat calls at the fake; answered 429',
        measured: `${fmt(calls.chat)}; ${fmt(calls.rateLimited)}`,
      },
      {
        figure: '429 share of chat calls',
        goal: '< 1 %',
        measured: ceilPercent(share),
        kind: 'absolute',
        met: share < 0.01,
      },
      {
        figure: `throughput ÷ the limit (${fmt(perSecond)}/s)`,
        goal: '≥ 0.9',
        measured: `${floorTo(throughput / perSecond)} (${fmt(throughput, 2)}/s)`,
        kind: 'absolute',
        met: throughput / perSecond >= 0.9,
      },
    ],
    notes: implemented
      ? [
          `How askq limits: ASKQ_LLM_RPM is taken at each chat (and grader) call, not at job start. Before the call, one Redis script shared by every worker (src/worker/resilience/call-limits.ts \`CallLimits\`, on Redis’s clock) books the call’s turn: turns are spaced 60000 ÷ rpm ms apart plus ${fmt((SPACING_HEADROOM - 1) * 100)} % (here ${fmt((MINUTE / rpm) * SPACING_HEADROOM)} ms) whichever worker asks, so no window of the provider’s, however aligned, gets more than its share, and a call reaching the provider up to 50 ms a second later than the one before it still lands in its own window (throughput ÷ limit is at most ${fmt(1 / SPACING_HEADROOM, 2)} by design); the call waits for its turn under its job’s signal. ASKQ_LLM_TPM, when set, is charged in the same script before the call (prompt estimate + max tokens) and corrected with the reported usage after. A turn further away than ASKQ_CALL_TIMEOUT_MS is not booked: the job goes back to the queue, paused for the excess (no attempt used). The queue itself has no limiter. A 429 that still comes pauses the queue for its retry-after and the job is retried.`,
        ]
      : [
          'ASKQ_LLM_RPM is not in this build’s configuration schema yet, so askq ran without a limiter, relying on its 429 handling (queue-wide pause for the provider’s retry-after).',
        ],
    seconds: (performance.now() - t0) / 1000,
  };
}

const { values } = parseArgs({
  options: {
    rpm: { type: 'string', default: '600' },
    seconds: { type: 'string', default: '45' },
    concurrency: { type: 'string', default: '25' },
  },
});
await runAsScript(import.meta.main, () =>
  run({
    rpm: Number(values.rpm),
    seconds: Number(values.seconds),
    concurrency: Number(values.concurrency),
  }),
);
