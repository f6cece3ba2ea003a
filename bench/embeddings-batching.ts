/**
 * Embeddings batching (issue 7): remote embeddings (ASKQ_EMBEDDINGS=openai, built by the
 * worker's own createProviders, so BatchedEmbeddings wraps OpenAIEmbeddings exactly as in
 * production) against the fake in its own process, at concurrency 64, with micro-batching on
 * (default ASKQ_EMBED_BATCH_WAIT_MS=5) and off (0). Chat and store are instant in-process, so
 * retrieval is the embeddings call plus what batching adds.
 *
 *   - HTTP embeddings calls per question, counted at the fake (goal ≤ 1/16);
 *   - added latency per query: the retrieve stage's time (job results' timings.retrieveMs)
 *     with batching on minus off under the same load, and one query at a time (goal ≤ 10 ms).
 *
 *   node bench/embeddings-batching.ts [--jobs 2000] [--concurrency 64] [--latency 20]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { AskqClient } from '../src/producer/askq-client.ts';
import { loadConfig } from '../src/shared/config.ts';
import type { AnswerResult } from '../src/shared/contracts.ts';
import { createProviders } from '../src/worker/providers/create-providers.ts';
import { providerOptionsFromConfig } from '../src/worker/providers/provider-options.ts';
import { startBenchWorker } from './lib/askq.ts';
import { type BenchRedis, benchRedis } from './lib/bench-redis.ts';
import { type BenchResult, fmt, mean, percentile, runAsScript } from './lib/bench-result.ts';
import { instantPorts, questions } from './lib/instant-ports.ts';
import { startFakeProcess } from './lib/processes.ts';
import { waitForCompleted } from './lib/wait.ts';

export interface EmbeddingsBatchingOptions {
  /** @defaultValue 2000 */
  jobs?: number;
  /** @defaultValue 64 */
  concurrency?: number;
  /** The fake's latency per call. @defaultValue 20 */
  latencyMs?: number;
}

interface Mode {
  calls: number;
  retrieveMs: number[];
  /** One query at a time, through the same port. */
  isolatedMs: number[];
}

async function runMode(
  batching: boolean,
  redisUrl: string,
  jobs: number,
  concurrency: number,
  latencyMs: number,
): Promise<Mode> {
  const fake = await startFakeProcess({ latencyMs });
  const dir = await mkdtemp(join(tmpdir(), 'askq-bench-embed-'));
  const prefix = `bench-embed-${batching ? 'on' : 'off'}`;
  const env = {
    REDIS_URL: redisUrl,
    ASKQ_PREFIX: prefix,
    ASKQ_EMBEDDINGS: 'openai',
    ASKQ_LLM: 'local',
    ASKQ_VECTOR_STORE: 'local',
    ASKQ_LOCAL_STORE_DIR: dir,
    OPENAI_API_KEY: 'sk-bench',
    OPENAI_BASE_URL: fake.url,
    ASKQ_EMBED_BATCH_WAIT_MS: batching ? '5' : '0',
  };
  const built = await createProviders(providerOptionsFromConfig(loadConfig(env)));
  const instant = await instantPorts();
  const retrieveMs: number[] = [];
  try {
    const worker = await startBenchWorker({
      env,
      ports: { chat: instant.chat, embeddings: built.embeddings, store: instant.store },
      concurrency,
    });
    worker.questions.on('completed', (_job, result: AnswerResult) =>
      retrieveMs.push(result.timings.retrieveMs),
    );
    const client = new AskqClient({ redisUrl, prefix, telemetry: false });
    const done = waitForCompleted(worker.questions, jobs, 120_000);
    await client.askMany(questions(jobs).map((question) => ({ question })));
    await done;
    await worker.close(10_000);
    await client.queue.obliterate({ force: true });
    await client.close();
    const isolatedMs: number[] = [];
    for (let i = 0; i < 50; i++) {
      const started = performance.now();
      await built.embeddings.embedQuery(`isolated question ${i}`);
      isolatedMs.push(performance.now() - started);
    }
    const calls = await fake.stop();
    return { calls: calls.embeddings, retrieveMs, isolatedMs };
  } finally {
    await built.store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

export async function run(options: EmbeddingsBatchingOptions = {}): Promise<BenchResult> {
  const jobs = options.jobs ?? 2000;
  const concurrency = options.concurrency ?? 64;
  const latencyMs = options.latencyMs ?? 20;
  const t0 = performance.now();
  let redis: BenchRedis | undefined;
  let on: Mode;
  let off: Mode;
  try {
    redis = await benchRedis('embeddings-batching');
    off = await runMode(false, redis.url, jobs, concurrency, latencyMs);
    on = await runMode(true, redis.url, jobs, concurrency, latencyMs);
  } finally {
    await redis?.stop();
  }
  // Isolated calls include 50 after the run; subtract them from the per-question count.
  const perQuestion = (m: Mode) => (m.calls - m.isolatedMs.length) / jobs;
  const p50 = (xs: number[]) => percentile(xs, 50);
  const addedLoaded = p50(on.retrieveMs) - p50(off.retrieveMs);
  const addedIsolated = mean(on.isolatedMs) - mean(off.isolatedMs);
  const ratio = perQuestion(on);
  return {
    id: 'embeddings-batching',
    title: 'Embeddings batching',
    compares: `${fmt(jobs)} questions at concurrency ${concurrency} with remote embeddings (ASKQ_EMBEDDINGS=openai through the worker's own createProviders: BatchedEmbeddings over OpenAIEmbeddings, to the fake in its own process answering in ${latencyMs} ms), micro-batching on (ASKQ_EMBED_BATCH_WAIT_MS=5, batch ≤ 64) vs off (0); chat and store instant in-process. Calls are counted at the fake; latency is the retrieve stage's time from the results, and 50 single queries one at a time.`,
    goal: '≤ 1 embeddings HTTP call per 16 questions, added latency ≤ 10 ms',
    figures: [
      {
        figure: 'embeddings HTTP calls per question, batching on (off)',
        goal: '≤ 0.0625 (1/16)',
        measured: `${ratio.toFixed(4)} = 1/${fmt(1 / ratio, 1)} (${perQuestion(off).toFixed(4)})`,
        kind: 'absolute',
        met: ratio <= 1 / 16,
      },
      {
        figure: `retrieve stage p50 / p95 under load, on vs off`,
        measured: `${fmt(p50(on.retrieveMs), 1)} / ${fmt(percentile(on.retrieveMs, 95), 1)} ms vs ${fmt(p50(off.retrieveMs), 1)} / ${fmt(percentile(off.retrieveMs, 95), 1)} ms`,
      },
      {
        figure: 'added latency under load (retrieve p50, on − off)',
        goal: '≤ 10 ms',
        measured: `${fmt(addedLoaded, 1)} ms`,
        kind: 'absolute',
        met: addedLoaded <= 10,
      },
      {
        figure: 'added latency, one query at a time (mean, on − off)',
        goal: '≤ 10 ms',
        measured: `${fmt(addedIsolated, 1)} ms (${fmt(mean(on.isolatedMs), 1)} vs ${fmt(mean(off.isolatedMs), 1)} ms)`,
        kind: 'absolute',
        met: addedIsolated <= 10,
      },
    ],
    notes: [
      'One query alone waits the whole batch window (5 ms by default) before its request leaves; under load the window fills sooner (up to 64 queries) and one request replaces many, so the added latency can be negative when unbatched requests queue behind each other.',
    ],
    seconds: (performance.now() - t0) / 1000,
  };
}

const { values } = parseArgs({
  options: {
    jobs: { type: 'string', default: '2000' },
    concurrency: { type: 'string', default: '64' },
    latency: { type: 'string', default: '20' },
  },
});
await runAsScript(import.meta.main, () =>
  run({
    jobs: Number(values.jobs),
    concurrency: Number(values.concurrency),
    latencyMs: Number(values.latency),
  }),
);
