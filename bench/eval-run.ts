/**
 * Benchmark of `askq eval run --with-worker` (issue 6): 2,000 questions through the real CLI
 * process (the package's `askq` bin, dist/cli.js, compiled from this tree first) against the OpenAI-compatible fake answering each chat call in 200 ms, concurrency
 * 100, local embeddings and store. Ideal: 2000 × 0.2 s / 100 = 4 s; goals (issue 16's table):
 * wall ≤ 1.25 × ideal (CLI start included) and < 250 MB peak RSS of the CLI process.
 *
 *   node bench/eval-run.ts [--questions 2000] [--latency 200] [--concurrency 100]
 *
 * Starts a private redis-server, or uses ASKQ_BENCH_REDIS_URL (never REDIS_URL). Prints a
 * table, then one `BENCH_RESULT {json}` line for bench/run-all.ts.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { ingest } from '../src/producer/ingest.ts';
import { loadConfig } from '../src/shared/config.ts';
import { AskqWorker, workerOptionsFromConfig } from '../src/worker/askq-worker.ts';
import { startFakeOpenAI } from '../test/support/fake-openai-server.ts';
import { type BenchRedis, benchRedis } from './lib/bench-redis.ts';
import { type BenchResult, RESULT_MARKER } from './lib/bench-result.ts';
import { builtCli } from './lib/built-cli.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const { values } = parseArgs({
  options: {
    questions: { type: 'string', default: '2000' },
    latency: { type: 'string', default: '200' },
    concurrency: { type: 'string', default: '100' },
  },
});
const questions = Number(values.questions);
const latencyMs = Number(values.latency);
const concurrency = Number(values.concurrency);

const benchStarted = performance.now();
const redis: BenchRedis = await benchRedis('eval-run');
const redisUrl = redis.url;
const fake = await startFakeOpenAI({ latencyMs });
const tmp = await mkdtemp(join(tmpdir(), 'askq-bench-eval-'));
try {
  const env = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '/tmp',
    REDIS_URL: redisUrl,
    ASKQ_PREFIX: `bench-eval-${Date.now()}`,
    ASKQ_LOCAL_STORE_DIR: join(tmp, 'store'),
    ASKQ_LLM: 'openai',
    ASKQ_EMBEDDINGS: 'local',
    ASKQ_VECTOR_STORE: 'local',
    OPENAI_API_KEY: 'sk-bench',
    OPENAI_BASE_URL: fake.url,
  };
  // The corpus the questions are asked against, ingested through the queue beforehand.
  const worker = await AskqWorker.start(
    workerOptionsFromConfig(loadConfig({ ...env, LOG_LEVEL: 'warn' })),
  );
  await ingest([join(ROOT, 'examples/corpus')], { redis: redisUrl, prefix: env.ASKQ_PREFIX });
  await worker.close(5000);
  fake.latencyMs = latencyMs;

  const file = join(tmp, 'questions.jsonl');
  const topics = ['BullMQ retries', 'rate limiting', 'stalled jobs', 'LCEL', 'RAG', '熔断器'];
  await writeFile(
    file,
    Array.from({ length: questions }, (_, i) =>
      JSON.stringify({
        id: `b-${i}`,
        question: `Question ${i}: how does ${topics[i % topics.length]} work?`,
        expected: 'work',
      }),
    ).join('\n'),
  );
  // The CLI a user runs (dist/cli.js, compiled from this tree first), as in eval-100k.
  const cli = await builtCli();
  const chatBefore = fake.calls.chat;
  const started = performance.now();
  const child = spawn(
    '/usr/bin/time',
    [
      '-v',
      process.execPath,
      cli,
      'eval',
      'run',
      file,
      '--with-worker',
      '--concurrency',
      String(concurrency),
      '--out',
      join(tmp, 'run'),
      '--json',
    ],
    { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  const wallS = (performance.now() - started) / 1000;
  if (code !== 0) throw new Error(`CLI exited ${code}: ${stderr.slice(-2000)}`);
  const summary = JSON.parse(stdout) as {
    completed: number;
    wallSeconds: number;
    latency: Record<'total' | 'queue' | 'retrieve' | 'generate', { p50: number; p95: number }>;
  };
  const rssKb = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(stderr)?.[1] ?? NaN);
  const ideal = (questions * latencyMs) / 1000 / concurrency;
  const rows: [string, string][] = [
    ['questions', String(questions)],
    ['chat latency', `${latencyMs} ms`],
    ['concurrency', String(concurrency)],
    ['completed', String(summary.completed)],
    ['chat calls', String(fake.calls.chat - chatBefore)],
    ['ideal', `${ideal.toFixed(2)} s`],
    [
      'wall (CLI process, start to exit)',
      `${wallS.toFixed(2)} s (${((wallS / ideal - 1) * 100).toFixed(0)}% over ideal)`,
    ],
    ['run wall (first enqueue to last result)', `${summary.wallSeconds.toFixed(2)} s`],
    [
      'case latency p50 / p95',
      `${Math.round(summary.latency.total.p50)} / ${Math.round(summary.latency.total.p95)} ms`,
    ],
    ['CLI peak RSS', `${(rssKb / 1024).toFixed(0)} MB`],
    [
      'stage p50 queue / retrieve / generate',
      `${Math.round(summary.latency.queue.p50)} / ${Math.round(summary.latency.retrieve.p50)} / ${Math.round(summary.latency.generate.p50)} ms`,
    ],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  for (const [k, v] of rows) console.log(`${k.padEnd(width)}  ${v}`);
  // For bench/run-all.ts: the goals of issue 16's table (≤ 1.25 × ideal, CLI peak RSS < 250 MB).
  const result: BenchResult = {
    id: 'eval-run',
    title: 'Bulk evaluation (`askq eval run --with-worker`)',
    compares: `the real CLI process as installed (the package's \`askq\` bin, dist/cli.js, compiled from this tree by the benchmark) running ${questions} questions (\`askq eval run file.jsonl --with-worker --concurrency ${concurrency}\`) against its ideal, ${questions} × ${latencyMs} ms ÷ ${concurrency} = ${ideal.toFixed(1)} s: chat on the fake answering in ${latencyMs} ms, local hashing embeddings and LanceDB store (examples/corpus ingested), contains-scoring on every case. Wall from spawn to exit (CLI start included); peak RSS from \`/usr/bin/time -v\`.`,
    goal: `≤ 1.25 × the ${ideal.toFixed(0)} s ideal, CLI peak RSS < 250 MB`,
    figures: [
      ...rows
        .filter(([k]) => !/^wall|^CLI peak/.test(k))
        .map(([figure, measured]) => ({ figure, measured })),
      {
        figure: 'wall, CLI start to exit ÷ ideal',
        goal: '≤ 1.25',
        measured: `${(Math.ceil((wallS / ideal) * 100) / 100).toFixed(2)} (${wallS.toFixed(2)} s)`,
        kind: 'absolute',
        met: wallS / ideal <= 1.25,
      },
      {
        figure: 'CLI peak RSS',
        goal: '< 250 MB',
        measured: `${Math.ceil(rssKb / 1024)} MB`,
        kind: 'absolute',
        met: rssKb / 1024 < 250,
      },
    ],
    notes: [],
    seconds: (performance.now() - benchStarted) / 1000,
  };
  console.log(RESULT_MARKER + JSON.stringify(result));
} finally {
  await fake.close();
  await rm(tmp, { recursive: true, force: true });
  await redis?.stop();
}
