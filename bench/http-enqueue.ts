/**
 * Benchmark of enqueueing over HTTP (issue 4): `askq serve` as its own process against a
 * private redis-server, loaded by autocannon over keep-alive connections to 127.0.0.1.
 *
 *   - single: `POST /v1/questions`, one question per request → requests/s, p50/p99 latency
 *   - batch:  `POST /v1/questions/batch`, 1000 questions per request → questions/s
 *
 * Goals on a two-core machine: ≥ 3,000 single requests/s and ≥ 30,000 batched questions/s.
 * Authentication and the Redis-backed rate limiter stay on (with a limit the run cannot reach),
 * so every request takes the production path.
 *
 *   node bench/http-enqueue.ts [--duration 10] [--connections 64] [--batch 1000]
 *
 * Prints a table, then one `BENCH_RESULT {json}` line for bench/run-all.ts.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import autocannon from 'autocannon';
import { Queue } from 'bullmq';

import { QUESTIONS_QUEUE } from '../src/shared/contracts.ts';
import { createRedisConnection } from '../src/shared/redis.ts';
import { type BenchRedis, benchRedis } from './lib/bench-redis.ts';
import { type BenchResult, RESULT_MARKER } from './lib/bench-result.ts';

const CLI = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
const KEY = 'bench-key-0123456789abcdef0123456789';
const PREFIX = 'bench-http';

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '64' },
    batch: { type: 'string', default: '1000' },
  },
});
const duration = Number(values.duration);
const connections = Number(values.connections);
const batchSize = Number(values.batch);
if (!(duration > 0 && duration <= 10)) throw new Error('--duration must be 1..10 seconds');

interface Row {
  scenario: string;
  connections: number;
  'duration s': number;
  'requests/s': number;
  'questions/s': number;
  'p50 ms': number;
  'p99 ms': number;
  'non-2xx': number;
  errors: number;
  'jobs in Redis': number;
}

const benchStarted = performance.now();
const redis: BenchRedis = await benchRedis('http-enqueue');
const connection = createRedisConnection(redis.url, 'worker');
const queue = new Queue(QUESTIONS_QUEUE, { connection, prefix: PREFIX });
let server: ChildProcess | undefined;
try {
  const started = await startServer(redis.url);
  server = started.child;
  const headers = { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' };
  const rows: Row[] = [];

  const single = JSON.stringify({ question: 'What does LCEL stand for?', topK: 4 });
  rows.push(await run('single question', `${started.url}/v1/questions`, single, 1));

  // The single scenario's jobs go, the queue's meta stays: a FLUSHDB would also drop the
  // events-stream cap `askq serve` wrote there, and the batch scenario would run at BullMQ's
  // default cap instead of askq's.
  await queue.drain(true);
  const batch = JSON.stringify(
    Array.from({ length: batchSize }, (_, i) => ({ question: `Batched question number ${i}?` })),
  );
  rows.push(
    await run(`batch of ${batchSize}`, `${started.url}/v1/questions/batch`, batch, batchSize),
  );

  console.table(rows);
  // For bench/run-all.ts: the goals of issue 7.
  const [singleRow, batchRow] = rows as [Row, Row];
  const result: BenchResult = {
    id: 'http-enqueue',
    title: 'HTTP enqueue',
    compares: `\`askq serve\` (own process, private redis-server, bearer auth and the Redis-backed rate limiter on with a limit out of reach, per-key question quotas off) loaded by autocannon over ${connections} keep-alive connections for ${duration} s per scenario: single \`POST /v1/questions\` vs \`POST /v1/questions/batch\` of ${batchSize}. Counts 2xx answers only.`,
    goal: '≥ 3,000 req/s single, ≥ 30,000 questions/s batched',
    figures: [
      {
        figure: `single: requests/s (p50 / p99 ms; non-2xx, errors)`,
        goal: '≥ 3,000',
        measured: `${singleRow['requests/s']} (${singleRow['p50 ms']} / ${singleRow['p99 ms']}; ${singleRow['non-2xx']}, ${singleRow.errors})`,
        kind: 'absolute',
        met: singleRow['requests/s'] >= 3000,
      },
      {
        figure: `batch of ${batchSize}: questions/s (p50 / p99 ms; non-2xx, errors)`,
        goal: '≥ 30,000',
        measured: `${batchRow['questions/s']} (${batchRow['p50 ms']} / ${batchRow['p99 ms']}; ${batchRow['non-2xx']}, ${batchRow.errors})`,
        kind: 'absolute',
        met: batchRow['questions/s'] >= 30_000,
      },
    ],
    notes: [],
    seconds: (performance.now() - benchStarted) / 1000,
  };
  console.log(RESULT_MARKER + JSON.stringify(result));

  async function run(
    scenario: string,
    url: string,
    body: string,
    perRequest: number,
  ): Promise<Row> {
    const result = await autocannon({
      url,
      method: 'POST',
      headers,
      body,
      connections,
      duration,
    });
    const counts = await queue.getJobCounts();
    const jobs = Object.values(counts).reduce((a, b) => a + b, 0);
    const ok = result['2xx'];
    return {
      scenario,
      connections,
      'duration s': result.duration,
      'requests/s': Math.round(ok / result.duration),
      'questions/s': Math.round((ok * perRequest) / result.duration),
      'p50 ms': result.latency.p50,
      'p99 ms': result.latency.p99,
      'non-2xx': result.non2xx,
      errors: result.errors,
      'jobs in Redis': jobs,
    };
  }
} finally {
  if (server && server.exitCode === null) {
    const exited = once(server, 'exit');
    server.kill('SIGTERM');
    await exited;
  }
  await queue.close();
  connection.disconnect();
  await redis.stop();
}

/** Starts `askq serve` on a free port and resolves with its address once it listens. */
async function startServer(redisUrl: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [CLI, 'serve'], {
    env: {
      PATH: process.env.PATH ?? '',
      REDIS_URL: redisUrl,
      ASKQ_PREFIX: PREFIX,
      ASKQ_API_KEYS: KEY,
      ASKQ_HOST: '127.0.0.1',
      PORT: '0',
      ASKQ_RATE_LIMIT_MAX: '100000000',
      // The per-key quotas in questions would refuse the flood with 429s: this measures the
      // enqueue path, so they are off (0), like the request rate limit above.
      ASKQ_KEY_QUESTIONS_PER_MIN: '0',
      ASKQ_KEY_MAX_PENDING: '0',
      ASKQ_MAX_BATCH: String(batchSize),
      LOG_LEVEL: 'info',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let output = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`askq serve exited with ${code}:\n${output}`)));
    child.stdout?.on('data', (d: Buffer) => {
      output += d.toString();
      const m = /"address":"(http:\/\/[^"]+)".*askq API listening/.exec(output);
      if (m) resolve(m[1]!);
    });
  });
  child.removeAllListeners('exit');
  child.stdout?.resume();
  return { child, url };
}
