/**
 * Scale-out (issue 7): 1, 2 and 4 real `askq worker` processes (the CLI, as deployed) on one
 * queue, LLM-bound: chat on the fake (own process) answering in 200 ms, local hashing
 * embeddings and an empty local store, a fixed concurrency per process. Throughput with N
 * processes ÷ (N × throughput with 1) shows how close adding workers comes to linear.
 *
 *   node bench/scale-out.ts [--processes 1,2,4] [--concurrency 25] [--latency 200] [--seconds 4]
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { Queue } from 'bullmq';

import { QUESTIONS_QUEUE } from '../src/shared/contracts.ts';
import { createRedisConnection } from '../src/shared/redis.ts';
import { spawnCli } from '../test/support/run-cli.ts';
import { prefillPaused } from './lib/askq.ts';
import { type BenchRedis, benchRedis } from './lib/bench-redis.ts';
import { type BenchResult, type Figure, floorTo, fmt, runAsScript } from './lib/bench-result.ts';
import { questions } from './lib/instant-ports.ts';
import { measureProcesses } from './lib/measure.ts';
import { startFakeProcess, stopChild, waitForLine } from './lib/processes.ts';
import { pollUntil } from './lib/wait.ts';

export interface ScaleOutOptions {
  /** @defaultValue [1, 2, 4] */
  processes?: number[];
  /** Per process. @defaultValue 25 */
  concurrency?: number;
  /** @defaultValue 200 */
  latencyMs?: number;
  /** Ideal seconds per step; sizes the job count. @defaultValue 4 */
  seconds?: number;
}

interface Step {
  processes: number;
  jobs: number;
  seconds: number;
  throughput: number;
  cpu: number;
}

export async function run(options: ScaleOutOptions = {}): Promise<BenchResult> {
  const steps = options.processes ?? [1, 2, 4];
  const concurrency = options.concurrency ?? 25;
  const latencyMs = options.latencyMs ?? 200;
  const idealSeconds = options.seconds ?? 4;
  const t0 = performance.now();
  const fake = await startFakeProcess({ latencyMs });
  const dir = await mkdtemp(join(tmpdir(), 'askq-bench-scale-'));
  let redis: BenchRedis | undefined;
  const results: Step[] = [];
  try {
    redis = await benchRedis('scale-out');
    for (const n of steps) {
      const prefix = `bench-scale-${n}`;
      const env = {
        REDIS_URL: redis.url,
        ASKQ_PREFIX: prefix,
        ASKQ_LLM: 'openai',
        ASKQ_EMBEDDINGS: 'local',
        ASKQ_VECTOR_STORE: 'local',
        ASKQ_LOCAL_STORE_DIR: join(dir, 'store'),
        OPENAI_API_KEY: 'sk-bench',
        OPENAI_BASE_URL: fake.url,
        LOG_LEVEL: 'info',
        OTEL_SDK_DISABLED: 'true',
      };
      const jobs = Math.round(((n * concurrency) / (latencyMs / 1000)) * idealSeconds);
      const connection = createRedisConnection(redis.url, 'worker');
      const queue = new Queue(QUESTIONS_QUEUE, { connection, prefix });
      await prefillPaused(queue, questions(jobs), { removeOnComplete: { count: 100_000 } });
      const workers: ChildProcess[] = [];
      try {
        for (let i = 0; i < n; i++) {
          const child = spawnCli(['worker', '--concurrency', String(concurrency)], env);
          workers.push(child);
          let out = '';
          child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
          child.stderr?.resume();
          await waitForLine(child, () => (/worker started/.test(out) ? true : undefined), 30_000);
          // Drop the log lines from here on; only the start line was needed.
          child.stdout?.removeAllListeners('data');
          child.stdout?.resume();
        }
        const cpu = measureProcesses(Object.fromEntries(workers.map((w, i) => [i, w.pid])));
        const started = performance.now();
        await queue.resume();
        await pollUntil(
          async () => (await queue.getCompletedCount()) >= jobs,
          120_000,
          50,
          `${jobs} completed jobs`,
        );
        const seconds = (performance.now() - started) / 1000;
        const used = Object.values(cpu()).reduce((a, b) => a + b, 0);
        results.push({ processes: n, jobs, seconds, throughput: jobs / seconds, cpu: used });
      } finally {
        await Promise.all(workers.map((w) => stopChild(w)));
        await queue.obliterate({ force: true });
        await queue.close();
        connection.disconnect();
      }
    }
  } finally {
    await fake.stop();
    await redis?.stop();
    await rm(dir, { recursive: true, force: true });
  }
  const base = results[0]!;
  const ideal = (n: number) => (n * concurrency) / (latencyMs / 1000);
  const figures: Figure[] = results.map((r) => {
    const scale = r.throughput / (base.throughput * (r.processes / base.processes));
    return {
      figure: `${r.processes} process${r.processes > 1 ? 'es' : ''} × ${concurrency}: jobs/s (÷ ideal ${fmt(ideal(r.processes))}); workers' CPU, % of a core (sum)`,
      measured: `${fmt(r.throughput, 1)} (${floorTo(r.throughput / ideal(r.processes))}); ${fmt(r.cpu * 100)} %${r.processes > base.processes ? `; ÷ linear from 1 process: ${floorTo(scale)}` : ''}`,
      ...(r.processes > base.processes
        ? { goal: '÷ linear ≥ 0.85', kind: 'side-by-side' as const, met: scale >= 0.85 }
        : {}),
    };
  });
  return {
    id: 'scale-out',
    title: 'Scale-out',
    compares: `throughput of ${steps.join(', ')} real \`askq worker\` processes (the CLI, tracing off, logs at info to a pipe) on one queue vs N × the 1-process figure; LLM-bound: chat on the fake (own process) answering in ${latencyMs} ms, local hashing embeddings, empty local store, concurrency ${concurrency} per process; jobs pre-added to a paused queue (${idealSeconds} s of ideal work per step), processes started and ready before the clock starts at resume; completion polled every 50 ms.`,
    goal: 'throughput grows ≥ 0.85 × linearly',
    figures,
    notes: [scaleNote(results, concurrency, ideal(steps.at(-1) ?? 1), steps.at(-1) ?? 1)],
    seconds: (performance.now() - t0) / 1000,
  };
}

/** What the machine's cores imply for the largest step. */
function scaleNote(results: Step[], concurrency: number, idealTop: number, top: number): string {
  const base = results[0]!;
  const cpuPerJobMs = (base.cpu / base.throughput) * 1000;
  const needed = (cpuPerJobMs / 1000) * idealTop;
  const cores = availableParallelism();
  const head = `This machine has ${cores} cores, shared by the workers, Redis, the fake and the benchmark itself (and other users' runs). A worker here spends ${fmt(cpuPerJobMs, 2)} ms of CPU per job (measured with 1 process: local hashing embeddings, LanceDB query, LangChain + openai SDK, BullMQ, logs), so ${top} processes × ${concurrency} slots at their ideal ${fmt(idealTop)} jobs/s would need ≈ ${fmt(needed * 100)} % of a core for the workers alone.`;
  const topStep = results.at(-1)!;
  const scaled = topStep.throughput / (base.throughput * topStep.processes) >= 0.85;
  if (needed < cores * 0.6) {
    return `${head} That fits in the machine's cores, so the figure measures the queue's fan-out rather than CPU.`;
  }
  return `${head} With Redis and the fake on the same ${cores} cores, that is at or beyond what the machine has, so the ${top}-process figure is bound by CPU, not by the queue: ${scaled ? 'it met the goal in this run, but with no headroom — it depends on what else the shared machine is doing at that moment, and the same step can miss on a busier minute' : 'it missed the goal because the cores ran out (the workers’ summed CPU shows it)'}. Scale-out beyond what this machine's cores hold needs more cores (or more machines sharing Redis); on a machine with ≥ ${Math.ceil(needed + 1)} free cores the same test would measure the queue's fan-out.`;
}

const { values } = parseArgs({
  options: {
    processes: { type: 'string', default: '1,2,4' },
    concurrency: { type: 'string', default: '25' },
    latency: { type: 'string', default: '200' },
    seconds: { type: 'string', default: '4' },
  },
});
await runAsScript(import.meta.main, () =>
  run({
    processes: values.processes.split(',').map(Number),
    concurrency: Number(values.concurrency),
    latencyMs: Number(values.latency),
    seconds: Number(values.seconds),
  }),
);
