/**
 * Where a slot's turn goes (issue 16): the llm-scaling setup (one worker, the real chat path to
 * the fake answering in 200 ms in a process of its own, instant embeddings and store) at one
 * concurrency, with a timestamp per job at each stage, the fake's own among them:
 *
 *   A  BullMQ has the job (`active`: fetched, or handed back by the previous job's finish)
 *   B  askq's attempt starts (`job:started`)
 *   C  chat.answer is called (retrieval and prompt done)
 *   D  node:http request created (LangChain and the openai SDK done)
 *   S  the request has its socket (`socket`)      E  request written (`finish`)
 *   F  the fake has the whole request             G  the fake answers (F→G is its 200 ms)
 *   H  the worker sees the response's headers     I  the body has ended
 *   J  chat.answer resolves                       K  the attempt returns (`job:completed`)
 *   L  BullMQ's moveToFinished is done (`completed`); the slot's next job is A′
 *
 * Also: the turn by its index in the slot (ramp-up against steady state), the HTTP agent's
 * sockets, Redis commands per job (`evalsha` = round trips), GC pauses and loop delay. A
 * diagnostic, not part of `npm run bench`. Clock: `performance.timeOrigin + now()` in both
 * processes (sub-ms; their origins may differ by a fraction of a ms).
 *
 *   node bench/llm-turn-trace.ts [--concurrency 100] [--jobs-per-slot 10] [--latency 200]
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { spawn } from 'node:child_process';
import diagnostics from 'node:diagnostics_channel';
import { readFileSync, rmSync } from 'node:fs';
import type { Agent, ClientRequest, IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import { parseArgs } from 'node:util';

import type { Job } from 'bullmq';

import type { ChatPort } from '../src/shared/ports.ts';
import type { Redis } from '../src/shared/redis.ts';
import { OpenAIChat } from '../src/worker/providers/openai/openai-chat.ts';
import { startPausedLevel } from './lib/askq.ts';
import { benchRedis } from './lib/bench-redis.ts';
import { instantPorts } from './lib/instant-ports.ts';
import { stopChild, waitForLine } from './lib/processes.ts';
import { waitForCompleted } from './lib/wait.ts';

const { values } = parseArgs({
  options: {
    concurrency: { type: 'string', default: '100' },
    'jobs-per-slot': { type: 'string', default: '10' },
    latency: { type: 'string', default: '200' },
  },
});
const concurrency = Number(values.concurrency);
const latencyMs = Number(values.latency);
const jobsPerSlot = Number(values['jobs-per-slot']);

const STAGES = ['A', 'B', 'C', 'D', 'S', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L'] as const;
type Stage = (typeof STAGES)[number];
interface Trace extends Partial<Record<Stage, number>> {
  slot?: string;
}
const now = () => performance.timeOrigin + performance.now();
const nOf = (question: string) => Number(/Question (\d+):/.exec(question)?.[1]);

let traces = new Map<number, Trace>();
const trace = (n: number) => {
  let t = traces.get(n);
  if (!t) traces.set(n, (t = {}));
  return t;
};
const agentAtRequest: { free: number; queued: number; reused: boolean }[] = [];

// Which job a request is for: chat.answer runs it inside this store.
const current = new AsyncLocalStorage<number>();
diagnostics.subscribe('http.client.request.created', (message) => {
  const n = current.getStore();
  if (n === undefined) return;
  const request = (message as { request: ClientRequest }).request;
  const t = trace(n);
  t.D = now();
  const agent = (request as ClientRequest & { agent: Agent }).agent;
  const count = (lists: NodeJS.ReadOnlyDict<unknown[]>) =>
    Object.values(lists).reduce((sum, list) => sum + (list?.length ?? 0), 0);
  const sample = { free: count(agent.freeSockets), queued: count(agent.requests), reused: false };
  agentAtRequest.push(sample);
  request.once('socket', () => {
    t.S = now();
    sample.reused = request.reusedSocket;
  });
  request.once('finish', () => (t.E = now()));
  request.once('response', (res: IncomingMessage) => {
    t.H = now();
    res.once('end', () => (t.I = now()));
  });
});

const fakeOut = join(tmpdir(), `askq-turn-trace-${process.pid}.json`);
const fake = spawn(
  process.execPath,
  [
    new URL('./lib/fake-trace-child.ts', import.meta.url).pathname,
    ...['--latency', String(latencyMs), '--out', fakeOut],
  ],
  { stdio: ['pipe', 'pipe', 'inherit'] },
);
let fakeOutput = '';
fake.stdout.on('data', (d: Buffer) => (fakeOutput += d.toString()));

async function commandCalls(redis: Redis): Promise<Record<string, number>> {
  const info = (await redis.info('commandstats')) as string;
  return Object.fromEntries(
    [...info.matchAll(/^cmdstat_(\w+):calls=(\d+)/gm)].map((m) => [m[1]!, Number(m[2])]),
  );
}

async function level(s: {
  redisUrl: string;
  chat: ChatPort;
  ports: Awaited<ReturnType<typeof instantPorts>>;
  concurrency: number;
  jobs: number;
  report: boolean;
}): Promise<void> {
  traces = new Map();
  agentAtRequest.length = 0;
  const prefix = `trace-${s.concurrency}-${s.jobs}-${s.report ? 'traced' : 'warm'}`;
  const level = await startPausedLevel({
    redisUrl: s.redisUrl,
    prefix,
    jobs: s.jobs,
    ports: { chat: s.chat, embeddings: s.ports.embeddings, store: s.ports.store },
    concurrency: s.concurrency,
  });
  const { connection, queue, worker } = level;
  const jobN = new Map<string, number>();
  worker.questions.on('active', (job: Job) => {
    const n = nOf((job.data as { question: string }).question);
    jobN.set(job.id!, n);
    Object.assign(trace(n), { A: now(), slot: job.token });
  });
  worker.on('job:started', (e) => (trace(jobN.get(e.jobId)!).B = now()));
  worker.on('job:completed', (e) => (trace(jobN.get(e.jobId)!).K = now()));
  worker.questions.on('completed', (job: Job) => (trace(jobN.get(job.id!)!).L = now()));
  const gc: number[] = [];
  const gcObserver = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) gc.push(e.duration);
  });
  try {
    const done = waitForCompleted(worker.questions, s.jobs, 120_000);
    const before = await commandCalls(connection);
    const loop = monitorEventLoopDelay({ resolution: 10 });
    gcObserver.observe({ entryTypes: ['gc'] });
    loop.enable();
    const cpu = process.cpuUsage();
    const started = now();
    await queue.resume();
    await done;
    const ms = now() - started;
    const used = process.cpuUsage(cpu);
    loop.disable();
    gcObserver.disconnect();
    if (!s.report) return;
    const after = await commandCalls(connection);
    const perJob = (k: string) => ((after[k] ?? 0) - (before[k] ?? 0)) / s.jobs;
    const achieved = (1000 * s.jobs) / ms;
    const gcMs = gc.reduce((a, b) => a + b, 0);
    console.log(
      `concurrency ${s.concurrency}, ${s.jobs} jobs in ${fmt(ms / 1000, 2)} s: achieved/ideal ${fmt(achieved / (s.concurrency / (latencyMs / 1000)), 3)}, turn ${fmt((s.concurrency * ms) / s.jobs)} ms; CPU per job ${fmt((used.user + used.system) / 1000 / s.jobs, 3)} ms (system ${fmt(used.system / 1000 / s.jobs, 3)}), ${fmt(((used.user + used.system) / 1000 / ms) * 100, 0)} % of a core`,
    );
    console.log(
      `loop delay p50 ${fmt(loop.percentile(50) / 1e6)} p99 ${fmt(loop.percentile(99) / 1e6)} max ${fmt(loop.max / 1e6)} ms; GC ${gc.length} pauses, ${fmt(gcMs, 0)} ms (${fmt((gcMs / ms) * 100)} % of wall), longest ${fmt(Math.max(0, ...gc))} ms`,
    );
    console.log(
      `Redis per job: ${fmt(perJob('evalsha'), 2)} round trips (evalsha), ${fmt(Object.keys(after).reduce((sum, k) => sum + perJob(k), 0) - perJob('info'), 1)} commands incl. those inside scripts`,
    );
  } finally {
    await level.close();
  }
}

function fmt(x: number, digits = 1): string {
  return Number.isFinite(x) ? x.toFixed(digits) : '–';
}

function stats(xs: number[]): string {
  if (xs.length === 0) return 'none';
  const sorted = [...xs].sort((a, b) => a - b);
  const q = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
  const mean = sorted.reduce((a, b) => a + b, 0) / sorted.length;
  return `mean ${fmt(mean).padStart(6)}  p50 ${fmt(q(0.5)).padStart(6)}  p90 ${fmt(q(0.9)).padStart(6)}  p99 ${fmt(q(0.99)).padStart(6)}`;
}

/** Per stage and per turn index, from the traces of the reported level and the fake's times. */
function report(fakeTimes: Record<string, [number, number]>): void {
  for (const [n, [received, answered]] of Object.entries(fakeTimes)) {
    const t = traces.get(Number(n));
    if (t) Object.assign(t, { F: received, G: answered });
  }
  const slots = new Map<string, Trace[]>();
  for (const t of traces.values()) {
    if (t.slot === undefined || t.A === undefined) continue;
    slots.set(t.slot, [...(slots.get(t.slot) ?? []), t]);
  }
  const gaps = new Map<string, number[]>();
  const byIndex: number[][] = [];
  const add = (key: string, x: number | undefined) => {
    if (x !== undefined && Number.isFinite(x)) gaps.set(key, [...(gaps.get(key) ?? []), x]);
  };
  for (const list of slots.values()) {
    list.sort((a, b) => a.A! - b.A!);
    list.forEach((t, i) => {
      for (let k = 1; k < STAGES.length; k++) {
        const [from, to] = [STAGES[k - 1]!, STAGES[k]!];
        if (t[from] !== undefined && t[to] !== undefined) add(`${from}→${to}`, t[to] - t[from]);
      }
      const next = list[i + 1];
      if (next?.A === undefined || t.L === undefined) return;
      add('L→A′', next.A - t.L);
      add('A→A′ (turn)', next.A - t.A!);
      (byIndex[i] ??= []).push(next.A - t.A!);
    });
  }
  console.log(`${slots.size} slots; stage durations in ms:`);
  for (const [key, xs] of gaps) console.log(`  ${key.padEnd(12)} ${stats(xs)}`);
  console.log(
    `mean turn by its index in the slot (ms): ${byIndex.map((xs, i) => `${i}: ${fmt(xs.reduce((a, b) => a + b, 0) / xs.length, 0)}`).join(', ')}`,
  );
  const reused = agentAtRequest.filter((a) => a.reused).length;
  const mean = (xs: number[]) => fmt(xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length));
  console.log(
    `HTTP agent at each request: ${reused}/${agentAtRequest.length} on a reused socket; free sockets ${mean(agentAtRequest.map((a) => a.free))}, requests queued for one ${mean(agentAtRequest.map((a) => a.queued))} (means)`,
  );
}

try {
  const url = await waitForLine(fake, () => /FAKE_URL (\S+)/.exec(fakeOutput)?.[1], 15_000);
  const redis = await benchRedis('llm-turn-trace');
  try {
    const ports = await instantPorts();
    const real = new OpenAIChat({ apiKey: 'sk-bench', baseURL: url, model: 'gpt-4o-mini' });
    const chat: ChatPort = {
      provider: real.provider,
      model: real.model,
      serverAddress: real.serverAddress,
      maxOutputTokens: real.maxOutputTokens,
      identity: (settings) => real.identity(settings),
      answer: async (input, signal) => {
        const n = nOf(input.question);
        trace(n).C = now();
        const out = await current.run(n, () => real.answer(input, signal));
        trace(n).J = now();
        return out;
      },
    };
    const setup = { redisUrl: redis.url, chat, ports };
    // As llm-scaling: a warm-up at 10, then the level (its first turn opens its sockets).
    await level({ ...setup, concurrency: 10, jobs: 50, report: false });
    await level({
      ...setup,
      concurrency,
      jobs: Math.max(concurrency * jobsPerSlot, 20),
      report: true,
    });
  } finally {
    await redis.stop();
  }
  await stopChild(fake);
  report(JSON.parse(readFileSync(fakeOut, 'utf8')) as Record<string, [number, number]>);
} finally {
  if (fake.exitCode === null && fake.signalCode === null) fake.kill('SIGKILL');
  rmSync(fakeOut, { force: true });
}
