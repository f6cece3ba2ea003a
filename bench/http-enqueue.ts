/**
 * Benchmark of enqueueing over HTTP (issue 4): `askq serve` as its own process against a
 * private redis-server, loaded by autocannon over keep-alive connections to 127.0.0.1.
 *
 *   - single: `POST /v1/questions`, one question per request → requests/s, p50/p99 latency
 *   - batch:  `POST /v1/questions/batch`, 1000 questions per request → questions/s, just after
 *     the same batches through a server of Fastify and BullMQ alone (bench/lib/bare-serve-child.ts,
 *     the floor under askq serve), each on an emptied Redis
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
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import autocannon from 'autocannon';
import { Queue } from 'bullmq';

import { QUESTIONS_QUEUE } from '../src/shared/contracts.ts';
import { DEFAULTS } from '../src/shared/defaults.ts';
import { createRedisConnection } from '../src/shared/redis.ts';
import { type BenchRedis, benchRedis } from './lib/bench-redis.ts';
import { type BenchResult, RESULT_MARKER } from './lib/bench-result.ts';
import { type ProfileSummary, summarizeCpuProfile } from './lib/cpu-profile.ts';
import { measureMachineBusy, measureProcesses, measureProcessLoad } from './lib/measure.ts';
import { waitForLine } from './lib/processes.ts';

const CLI = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
const BARE_CHILD = fileURLToPath(new URL('./lib/bare-serve-child.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const KEY = 'bench-key-0123456789abcdef0123456789';
const PREFIX = 'bench-http';

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '64' },
    batch: { type: 'string', default: '1000' },
    'no-profile': { type: 'boolean', default: false },
  },
});
const duration = Number(values.duration);
const connections = Number(values.connections);
const batchSize = Number(values.batch);
/** The goal for batches: questions enqueued per second. */
const BATCH_GOAL = 30_000;
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
  /** CPU share (1.0 = one core) of `askq serve`, redis-server and this process (autocannon). */
  'serve %': number;
  'serve thread %': number;
  'redis %': number;
  'autocannon %': number;
  /** Busy share of the whole machine, all cores (every process, other users' included). */
  'machine %': number;
}

const benchStarted = performance.now();
/** The last autocannon run's window, µs on the monotonic clock V8's profiles use. */
let lastWindow = { startUs: 0, endUs: 0 };
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

  const batch = JSON.stringify(
    Array.from({ length: batchSize }, (_, i) => ({ question: `Batched question number ${i}?` })),
  );
  // The floor first, then askq serve, each on an emptied Redis (FLUSHDB) with a server started
  // on it: a Redis that had just deleted a scenario's few hundred thousand jobs ran the next
  // scenario's identical scripts with about a third more CPU per batch here (the same floor
  // server, first and third in one run), so the order, not the server, would decide. askq
  // serve writes its events-stream cap to the emptied queue's meta as it starts; the floor
  // writes the same cap.
  const bareRow = await runBare(batch);
  const askqBatch = await restartServer();
  rows.push(
    await run(`batch of ${batchSize}`, `${askqBatch.url}/v1/questions/batch`, batch, batchSize),
  );

  console.table([...rows, bareRow]);
  const profile = values['no-profile'] ? undefined : await profileBatches();
  // For bench/run-all.ts: the goals of issue 7.
  const [singleRow, batchRow] = rows as [Row, Row];
  const result: BenchResult = {
    id: 'http-enqueue',
    title: 'HTTP enqueue',
    compares: `\`askq serve\` (own process, private redis-server, bearer auth and the Redis-backed rate limiter on with a limit out of reach, per-key question quotas off) loaded by autocannon over ${connections} keep-alive connections for ${duration} s per scenario: single \`POST /v1/questions\` vs \`POST /v1/questions/batch\` of ${batchSize}. Counts 2xx answers only.`,
    goal: `≥ 3,000 req/s single, ≥ ${fmtInt(BATCH_GOAL)} questions/s batched`,
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
        goal: `≥ ${fmtInt(BATCH_GOAL)}`,
        measured: `${batchRow['questions/s']} (${batchRow['p50 ms']} / ${batchRow['p99 ms']}; ${batchRow['non-2xx']}, ${batchRow.errors})`,
        kind: 'absolute',
        met: batchRow['questions/s'] >= BATCH_GOAL,
      },
      {
        figure: `batch of ${batchSize} through the floor, just before askq serve's: Fastify + BullMQ addBulk of prioritized jobs with no askq code but its fair-share formula (bench/lib/bare-serve-child.ts): questions/s (p50 / p99 ms; non-2xx, errors); CPU per batch, server + redis-server`,
        measured: `${bareRow['questions/s']} (${bareRow['p50 ms']} / ${bareRow['p99 ms']}; ${bareRow['non-2xx']}, ${bareRow.errors}); ${cpuPerBatch(bareRow)} (askq serve: ${cpuPerBatch(batchRow)})`,
      },
    ],
    notes: [...cpuNotes(singleRow, batchRow, profile), bareNote(batchRow, bareRow)],
    ...(profile ? { extra: profileMarkdown(profile) } : {}),
    seconds: (performance.now() - benchStarted) / 1000,
  };
  console.log(RESULT_MARKER + JSON.stringify(result));

  /**
   * The batch scenario again against a fresh `askq serve` under `node --cpu-prof`, counting
   * only the samples taken while autocannon ran; the server exits on SIGTERM so V8 writes it.
   */
  async function profileBatches(): Promise<ProfileSummary & { questionsPerSecond: number }> {
    const dir = await mkdtemp(join(tmpdir(), 'askq-bench-prof-'));
    try {
      const profiled = await restartServer(['--cpu-prof', `--cpu-prof-dir=${dir}`]);
      const row = await run(
        'profiled batch',
        `${profiled.url}/v1/questions/batch`,
        batch,
        batchSize,
      );
      await stopServer(profiled.child);
      const file = (await readdir(dir)).find((f) => f.endsWith('.cpuprofile'));
      if (!file) throw new Error('askq serve wrote no .cpuprofile');
      const summary = await summarizeCpuProfile(join(dir, file), ROOT, lastWindow);
      return { ...summary, questionsPerSecond: row['questions/s'] };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  /** Stops the running server, empties Redis and starts a fresh `askq serve` on it. */
  async function restartServer(nodeArgs: string[] = []) {
    await emptyRedis();
    const fresh = await startServer(redis.url, nodeArgs);
    server = fresh.child;
    return fresh;
  }

  /** Stops the running server, if any, and empties Redis (FLUSHDB) for the next scenario. */
  async function emptyRedis(): Promise<void> {
    if (server) await stopServer(server);
    server = undefined;
    await connection.flushdb();
  }

  /** The batch scenario against a fresh bare server (the floor) on an emptied Redis. */
  async function runBare(body: string): Promise<Row> {
    await emptyRedis();
    const bare = spawn(
      process.execPath,
      [
        BARE_CHILD,
        '--redis-url',
        redis.url,
        '--prefix',
        PREFIX,
        '--body-limit',
        String(64 << 20),
        '--events-max-len',
        String(DEFAULTS.eventsMaxLen),
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    try {
      let output = '';
      bare.stdout.on('data', (d: Buffer) => (output += d.toString()));
      const url = await waitForLine(bare, () => /BARE_SERVE_URL (\S+)/.exec(output)?.[1], 30_000);
      server = bare;
      return await run(`bare: batch of ${batchSize}`, `${url}/v1/questions/batch`, body, batchSize);
    } finally {
      server = undefined;
      await stopServer(bare);
    }
  }

  async function run(
    scenario: string,
    url: string,
    body: string,
    perRequest: number,
  ): Promise<Row> {
    const load = measureProcessLoad();
    const others = measureProcesses({ serve: server?.pid, redis: redis.pid });
    const serveThread = measureProcesses({ serve: server?.pid }, { mainThread: true });
    const machine = measureMachineBusy();
    const startUs = Number(process.hrtime.bigint() / 1000n);
    const result = await autocannon({
      url,
      method: 'POST',
      headers,
      body,
      connections,
      duration,
    });
    lastWindow = { startUs, endUs: Number(process.hrtime.bigint() / 1000n) };
    const cpu: Record<string, number> = {
      ...others(),
      serveThread: serveThread().serve!,
      machine: machine(),
      autocannon: load().cpuCores,
    };
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
      'serve %': Math.round(cpu.serve! * 100),
      'serve thread %': Math.round(cpu.serveThread! * 100),
      'redis %': Math.round(cpu.redis! * 100),
      'autocannon %': Math.round(cpu.autocannon! * 100),
      'machine %': Math.round(cpu.machine! * 100),
    };
  }
} finally {
  if (server) await stopServer(server);
  await queue.close();
  connection.disconnect();
  await redis.stop();
}

/** Starts `askq serve` on a free port and resolves with its address once it listens. */
async function startServer(
  redisUrl: string,
  nodeArgs: string[] = [],
): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [...nodeArgs, CLI, 'serve'], {
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

async function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  await exited;
}

function pct(share: number): string {
  return `${(share * 100).toFixed(1)} %`;
}

/**
 * What the machine's cores allow: askq serve (every thread) and Redis together, packed onto
 * all cores with nothing else running, against the goal's rate.
 */
function machineBound(cpuMsPerBatch: number): string {
  const cores = availableParallelism();
  const most = ((cores * 1000) / cpuMsPerBatch) * batchSize;
  const needed = (cores * 1000 * batchSize) / BATCH_GOAL;
  return `askq serve (every thread) and redis-server together spend ${cpuMsPerBatch.toFixed(1)} ms of CPU per batch: on this machine's ${cores} cores, with nothing else running, that is at most ${fmtInt(most)} questions/s; ${fmtInt(BATCH_GOAL)}/s needs ≤ ${needed.toFixed(1)} ms.`;
}

/** Where the cores went in each scenario, and which process bounds the batched rate. */
function cpuNotes(single: Row, batch: Row, profile?: ProfileSummary): string[] {
  const perBatch = (percent: number) => (percent / 100 / (batch['requests/s'] || NaN)) * 1000;
  const serveMs = perBatch(batch['serve %']);
  const threadMs = perBatch(batch['serve thread %']);
  const ceiling = (batchSize / threadMs) * 1000;
  const busy = profile?.places.filter((x) => x.name !== '(idle)') ?? [];
  const busyMs = busy.reduce((a, b) => a + b.ms, 0);
  const ownShare =
    busy.filter((x) => x.name.startsWith('src/')).reduce((a, b) => a + b.ms, 0) / busyMs;
  const bound =
    batch['serve thread %'] >= 90
      ? `askq serve's one JavaScript thread is the bound: at ${threadMs.toFixed(1)} ms of that thread's CPU per batch (the process's ${serveMs.toFixed(1)} ms counts V8's GC helpers and libuv's threads too) it enqueues at most ${fmtInt(ceiling)} questions/s with a core to itself; ${fmtInt(BATCH_GOAL)}/s needs ≤ ${((batchSize / BATCH_GOAL) * 1000).toFixed(1)} ms.${profile ? ` askq's own src/ files are ${pct(ownShare)} of its busy samples (${(threadMs * ownShare).toFixed(1)} ms per batch); the rest is ioredis and BullMQ writing one job script per question, GC and Fastify (profile below).` : ''}`
      : batch['machine %'] >= 90
        ? "The machine's cores are full: the server, Redis and the load generator share them."
        : `No one process is saturated: askq serve's JavaScript thread used ${batch['serve thread %']} % of a core (${threadMs.toFixed(1)} ms per batch; the process ${batch['serve %']} %, its GC and libuv threads included), with the machine ${batch['machine %']} % busy across its ${availableParallelism()} cores, so the thread also waits for a core its own GC helpers, Redis and the load generator are using; at ${threadMs.toFixed(1)} ms per batch, with a core to itself, it would enqueue at most ${fmtInt(ceiling)} questions/s.${profile ? ` askq's own src/ files are ${pct(ownShare)} of its busy samples (${(threadMs * ownShare).toFixed(1)} ms per batch); the rest is ioredis and BullMQ writing one job script per question, GC and Fastify (profile below).` : ''}`;
  return [
    `CPU while loaded, % of one core (the machine has ${availableParallelism()}): single — askq serve ${single['serve %']}, redis-server ${single['redis %']}, autocannon (this process) ${single['autocannon %']}, machine busy ${single['machine %']} % of all cores; batch — askq serve ${batch['serve %']} (its JavaScript thread ${batch['serve thread %']}), redis-server ${batch['redis %']}, autocannon ${batch['autocannon %']}, machine busy ${batch['machine %']} % of all cores.`,
    `Per batch of ${batchSize} questions: askq serve ${serveMs.toFixed(1)} ms of CPU, redis-server ${perBatch(batch['redis %']).toFixed(1)} ms (addBulk runs one script per job), autocannon ${perBatch(batch['autocannon %']).toFixed(1)} ms. ${bound} ${machineBound(serveMs + perBatch(batch['redis %']))}`,
  ];
}

/** CPU per batch of the server (every thread) and redis-server, from a scenario's row. */
function cpuPerBatch(row: Row): string {
  const ms = (percent: number) => (percent / 100 / (row['requests/s'] || NaN)) * 1000;
  return `${ms(row['serve %']).toFixed(1)} + ${ms(row['redis %']).toFixed(1)} ms`;
}

/** askq serve's batches against the floor's, the floor run just before it on the same machine. */
function bareNote(askq: Row, bare: Row): string {
  const ratio = askq['questions/s'] / bare['questions/s'];
  const floorMisses = bare['questions/s'] < BATCH_GOAL;
  return `Without askq: the same batches through a server of Fastify and BullMQ alone (JSON body, a UUID and askq's fair-share priority per question, one \`addBulk\`, the ids back; no authentication, rate limit, validation, admission check or tracing; bench/lib/bare-serve-child.ts), just before askq serve's on the same emptied Redis: ${fmtInt(bare['questions/s'])} questions/s, so askq serve ran at ${ratio.toFixed(2)} of the floor. ${
    floorMisses
      ? `The floor misses the goal too: on this machine, at this hour, a server built on these libraries does not enqueue ${fmtInt(BATCH_GOAL)} questions/s whatever askq does; askq's own cost is the distance from the floor's ${fmtInt(bare['questions/s'])} to its ${fmtInt(askq['questions/s'])}.`
      : `The floor meets the goal: askq's own work per batch (authentication, the rate limit, validation, the admission check, tracing; its CPU per batch in its process and in Redis against the floor's is in the table) is what stands between askq serve and ${fmtInt(BATCH_GOAL)}/s.`
  }`;
}

function profileMarkdown(p: ProfileSummary & { questionsPerSecond: number }): string {
  const src = p.places.filter((x) => x.name.startsWith('src/'));
  const srcShare = src.reduce((a, b) => a + b.share, 0);
  return [
    `Profile of \`askq serve\` during batches of ${batchSize} (a fresh server under \`node --cpu-prof\`, ${fmtInt(p.questionsPerSecond)} questions/s while profiled; only samples while autocannon ran, ${fmtInt(p.totalMs)} ms). askq's own src/ files: ${pct(srcShare)} of the samples${
      src.length
        ? ` (top: ${src
            .slice(0, 3)
            .map((x) => `${x.name} ${pct(x.share)}`)
            .join(', ')})`
        : ''
    }.`,
    '',
    'Self time by place (package or src file; time in Node internals and native code is billed to the nearest caller outside them):',
    '',
    '| place | self ms | share |',
    '| --- | --- | --- |',
    ...p.places.slice(0, 12).map((x) => `| \`${x.name}\` | ${fmtInt(x.ms)} | ${pct(x.share)} |`),
    '',
    'Top 10 functions by self time:',
    '',
    '| function (file:line) | self ms | share |',
    '| --- | --- | --- |',
    ...p.functions
      .slice(0, 10)
      .map((x) => `| \`${x.name.replace(/\|/g, '\\|')}\` | ${fmtInt(x.ms)} | ${pct(x.share)} |`),
  ].join('\n');
}

function fmtInt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}
