/**
 * Orchestration overhead (issue 7): askq's worker with in-process ports that do no work per
 * call (fixedPorts: no network, no model; the answers are found once) and tracing on, against
 * a bare BullMQ Worker whose processor does nothing; same private Redis, same pre-added jobs,
 * same concurrency. What is left between the two is askq's own per-job cost: validation,
 * checkpoint write, breakers, spans, logs, metrics.
 *
 * Tracing: the production bootstrap (startTelemetry: NodeSDK, BatchSpanProcessor, OTLP/HTTP
 * JSON exporter, metrics every 60 s) exporting to an in-process sink that discards bodies.
 * Logs: askq's pino logger at `info` (one line per job) written to /dev/null.
 *
 * Beside them, a third side: the same bare Worker doing per job only what askq's contracts
 * oblige any worker to do, through the same libraries and with none of askq's code: the five
 * spans of a question's trace (same names and nesting, a few attributes each), one pino line
 * at info to /dev/null, and askq's result for the job (one askq answered, returned as it is).
 * Its rate against bare's is what the goal asks of askq with askq's own work at zero. A fourth
 * side adds to it, through their own libraries and still with none of askq's code, the guards
 * askq's other promises require of each job (see {@link guardedProcessor}): what askq costs
 * over that side is askq's own code.
 *
 * Then the askq side runs again in a child process under `node --cpu-prof` and the profile's
 * self time is summarised by function and by package; the guarded side too, in a child of its
 * own, and the two are set side by side place by place: where askq's distance from it goes.
 *
 *   node bench/orchestration-overhead.ts [--jobs 5000] [--concurrency 50] [--rounds 2]
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import {
  type Attributes,
  metrics,
  type ProxyTracerProvider,
  SpanKind,
  trace,
} from '@opentelemetry/api';
import { type Job, Queue, UnrecoverableError, Worker } from 'bullmq';
import CircuitBreaker from 'opossum';

import { answerJobDataLenientSchema, QUESTIONS_QUEUE } from '../src/shared/contracts.ts';
import { DEFAULTS } from '../src/shared/defaults.ts';
import { createRedisConnection } from '../src/shared/redis.ts';
import { startTelemetry } from '../src/shared/telemetry/start-telemetry.ts';
import type { AskqWorker } from '../src/worker/askq-worker.ts';
import { prefillPaused, startBenchWorker } from './lib/askq.ts';
import { type BenchRedis, benchRedis } from './lib/bench-redis.ts';
import { type BenchResult, type Figure, floorTo, fmt, runAsScript } from './lib/bench-result.ts';
import { contractLog } from './lib/contract-log.ts';
import {
  differenceTable,
  placeDifferences,
  type ProfileSummary,
  summarizeCpuProfile,
} from './lib/cpu-profile.ts';
import { startDiscardSink } from './lib/discard-sink.ts';
import { fixedPorts, questions } from './lib/instant-ports.ts';
import { waitForCompleted } from './lib/wait.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const SELF = fileURLToPath(import.meta.url);
/** Jobs of each side's warm-up, not counted. */
const WARM_UP = 500;
const RETENTION = { removeOnComplete: { count: 10_000 }, removeOnFail: { count: 50_000 } };

export interface OrchestrationOptions {
  /** @defaultValue 5000 */
  jobs?: number;
  /** @defaultValue 50 */
  concurrency?: number;
  /** Rounds of (bare, askq, contract, guarded), alternating. @defaultValue 3 */
  rounds?: number;
  /** Also profile the askq and guarded sides, each in a child process. @defaultValue true */
  profile?: boolean;
}

/**
 * `bare`: a no-op processor. `askq`: askq's worker. `contract`: a bare processor doing what
 * askq's contracts require per job (see {@link contractProcessor}). `guarded`: the contract's
 * work plus the guards askq's other promises require of each job, through their libraries
 * (see {@link guardedProcessor}).
 */
type Kind = 'bare' | 'askq' | 'contract' | 'guarded';

interface Side {
  kind: Kind;
  seconds: number;
  jobsPerSecond: number;
  /** The measured window on the monotonic clock V8's profiler uses, in µs. */
  window: { startUs: number; endUs: number };
  /** Bytes sent to Redis per job (INFO total_net_input_bytes over the window). */
  redis: { bytesInPerJob: number };
  /** This process's CPU time (user + system) per job over the window, in µs. */
  cpuUsPerJob: number;
}

/** INFO total_net_input_bytes: what clients have sent Redis so far. */
async function redisStats(
  connection: ReturnType<typeof createRedisConnection>,
): Promise<{ bytesIn: number }> {
  const info = await connection.info('stats');
  return { bytesIn: Number(/^total_net_input_bytes:(\d+)/m.exec(info)?.[1] ?? 0) };
}

const monotonicUs = () => Number(process.hrtime.bigint() / 1000n);

/** Times one side: jobs pre-added to a paused queue, the clock runs from resume to the last completion. */
async function runSide(
  kind: Kind,
  redisUrl: string,
  jobs: number,
  concurrency: number,
): Promise<Side> {
  const prefix = `bench-orch-${kind}-${Date.now()}`;
  const connection = createRedisConnection(redisUrl, 'worker');
  await connection.flushdb();
  const queue = new Queue(QUESTIONS_QUEUE, { connection, prefix });
  await prefillPaused(queue, questions(jobs), RETENTION);
  let worker: Worker;
  let askq: AskqWorker | undefined;
  let contract: ContractProcessor | undefined;
  if (kind !== 'askq') {
    contract =
      kind === 'bare' ? undefined : kind === 'guarded' ? guardedProcessor() : contractProcessor();
    worker = new Worker(QUESTIONS_QUEUE, contract?.process ?? (async () => undefined), {
      connection,
      prefix,
      concurrency,
    });
  } else {
    askq = await startBenchWorker({
      env: { REDIS_URL: redisUrl, ASKQ_PREFIX: prefix },
      ports: await fixedPorts(),
      concurrency,
    });
    worker = askq.questions;
  }
  await worker.waitUntilReady();
  const done = waitForCompleted(worker, jobs, 120_000);
  const before = await redisStats(connection);
  const started = performance.now();
  const startUs = monotonicUs();
  const cpu = process.cpuUsage();
  await queue.resume();
  await done;
  const seconds = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  const endUs = monotonicUs();
  const after = await redisStats(connection);
  const redis = { bytesInPerJob: (after.bytesIn - before.bytesIn) / jobs };
  if (askq) {
    // The contract side returns what askq returned for a job.
    const [answered] = await queue.getJobs(['completed'], 0, 0);
    askqResult = answered?.returnvalue as unknown;
  }
  if (askq) await askq.close(10_000);
  else await worker.close();
  await contract?.close();
  await queue.close();
  connection.disconnect();
  return {
    kind,
    seconds,
    jobsPerSecond: jobs / seconds,
    window: { startUs, endUs },
    redis,
    cpuUsPerJob: (used.user + used.system) / jobs,
  };
}

/** Exports the spans the SDK still holds (the registered provider's forceFlush). */
async function flushSpans(): Promise<void> {
  const provider = (trace.getTracerProvider() as ProxyTracerProvider).getDelegate() as {
    forceFlush?: () => Promise<void>;
  };
  await provider.forceFlush?.();
}

/** One result askq's worker returned (from its latest side), for the contract side to return. */
let askqResult: unknown;

/**
 * What askq's contracts oblige any worker to do per job, done through the same libraries with
 * none of askq's code: the five spans of a question's trace as askq nests them (`process
 * questions` › `retrieve` › `embeddings`, `query`; `chat`), a few of their attributes each (askq
 * sets more), one pino line at info (pino's own fast destination to /dev/null, as askq's), and
 * askq's result for the job, which BullMQ writes to Redis. Lean on purpose: a floor, not a copy.
 * With `guards` ({@link guardedProcessor}), each job also goes through what askq's other
 * promises require of it.
 */
function contractProcessor(guards?: JobGuards): ContractProcessor {
  const tracer = trace.getTracer('bench-contract');
  const { log, close } = contractLog();
  const span = <T>(
    name: string,
    kind: SpanKind,
    attributes: Attributes,
    fn: () => Promise<T> | T,
  ): Promise<T> =>
    tracer.startActiveSpan(name, { kind, attributes }, async (s) => {
      try {
        return await fn();
      } finally {
        s.end();
      }
    });
  /** A dependency's (instant) call, behind its guards when there are any. */
  const call = (dependency: GuardedDependency): Promise<number> | number =>
    guards ? guards.call(dependency, () => 0) : 0;
  const processJob = (job: Job) =>
    span(
      'process questions',
      SpanKind.CONSUMER,
      {
        'messaging.system': 'bullmq',
        'messaging.destination.name': QUESTIONS_QUEUE,
        'messaging.message.id': job.id ?? '',
        'messaging.operation.type': 'process',
      },
      async () => {
        guards?.validate(job.data);
        const retrieving = guards ? performance.now() : 0;
        await span('retrieve', SpanKind.INTERNAL, { 'askq.namespace': 'default' }, async () => {
          await span('embeddings', SpanKind.CLIENT, { 'gen_ai.request.model': 'fake' }, () =>
            call('embeddings'),
          );
          await span('query', SpanKind.CLIENT, { 'db.system.name': 'fake' }, () =>
            call('vectorStore'),
          );
        });
        const generating = guards ? performance.now() : 0;
        guards?.stage('retrieve', generating - retrieving);
        await span(
          'chat',
          SpanKind.CLIENT,
          {
            'gen_ai.operation.name': 'chat',
            'gen_ai.request.model': 'fake-chat',
            'gen_ai.usage.input_tokens': 40,
            'gen_ai.usage.output_tokens': 3,
          },
          async () => {
            const calling = guards ? performance.now() : 0;
            await call('chat');
            guards?.modelCall(performance.now() - calling, { input: 40, output: 3 });
          },
        );
        if (guards) {
          guards.stage('generate', performance.now() - generating);
          guards.completed();
        }
        log.info({ jobId: job.id, attempt: job.attemptsMade + 1 }, 'answered');
        return askqResult;
      },
    );
  return { process: processJob, close };
}

type GuardedDependency = 'embeddings' | 'vectorStore' | 'chat';

/** What askq's other promises require of each job, beyond its answer contract. */
interface JobGuards {
  /** The job's data checked against the job contract's schema (foreign producers' jobs). */
  validate(data: unknown): void;
  /** A dependency's call through its circuit breaker, under a timeout of its own. */
  call<T>(dependency: GuardedDependency, fn: (signal: AbortSignal) => T): Promise<T>;
  /** A pipeline stage's duration (`askq.stage.duration`). */
  stage(name: string, ms: number): void;
  /** A chat call's duration and tokens (`gen_ai.client.*`). */
  modelCall(ms: number, tokens: { input: number; output: number }): void;
  /** The job's outcome (`askq.jobs`). */
  completed(): void;
}

/**
 * The contract's work plus, through their own libraries and still with none of askq's code,
 * the guards askq's other promises require of each job: its data validated against the job
 * contract's zod schema (jobs come from foreign producers), every dependency call through an
 * opossum circuit breaker of its own (the product's breakers; askq's options: no opossum
 * timeout, percentiles and snapshots off) under a per-call timeout that can abort it (an
 * AbortController and a timer, set and cleared), and the metrics askq's worker documents (the
 * job's outcome, the two stages' durations, the chat call's duration and tokens; OTel metrics
 * SDK, as askq's). What it costs over the contract side is the guards' price on these
 * libraries; what askq costs over it is askq's own code.
 */
function guardedProcessor(): ContractProcessor {
  const meter = metrics.getMeter('bench-guarded');
  const jobs = meter.createCounter('askq.jobs');
  const stages = meter.createHistogram('askq.stage.duration', { unit: 's' });
  const durations = meter.createHistogram('gen_ai.client.operation.duration', { unit: 's' });
  const tokens = meter.createHistogram('gen_ai.client.token.usage', { unit: '{token}' });
  const chatAttributes = {
    'gen_ai.operation.name': 'chat',
    'gen_ai.provider.name': 'fake',
    'gen_ai.request.model': 'fake-chat',
    'gen_ai.response.model': 'fake-chat',
  };
  const breaker = (name: GuardedDependency) =>
    new CircuitBreaker((fn: () => Promise<unknown>) => fn(), {
      name,
      timeout: false,
      errorThresholdPercentage: DEFAULTS.breakerErrorPercent,
      volumeThreshold: DEFAULTS.breakerVolume,
      resetTimeout: DEFAULTS.breakerResetMs,
      rollingCountTimeout: DEFAULTS.breakerWindowMs,
      rollingPercentilesEnabled: false,
      enableSnapshots: false,
    });
  const breakers = {
    embeddings: breaker('embeddings'),
    vectorStore: breaker('vectorStore'),
    chat: breaker('chat'),
  };
  const guards: JobGuards = {
    validate(data) {
      const parsed = answerJobDataLenientSchema.safeParse(data);
      if (!parsed.success) throw new UnrecoverableError(parsed.error.message);
    },
    call(dependency, fn) {
      return breakers[dependency].fire(async () => {
        const controller = new AbortController();
        const timer = setTimeout(() => controller.abort(), DEFAULTS.callTimeoutMs);
        try {
          return await fn(controller.signal);
        } finally {
          clearTimeout(timer);
        }
      }) as Promise<ReturnType<typeof fn>>;
    },
    stage(name, ms) {
      stages.record(ms / 1000, { 'askq.stage': name });
    },
    modelCall(ms, used) {
      durations.record(ms / 1000, chatAttributes);
      tokens.record(used.input, { ...chatAttributes, 'gen_ai.token.type': 'input' });
      tokens.record(used.output, { ...chatAttributes, 'gen_ai.token.type': 'output' });
    },
    completed() {
      jobs.add(1, { outcome: 'completed', 'askq.degraded': false, 'askq.cached': false });
    },
  };
  const contract = contractProcessor(guards);
  return {
    process: contract.process,
    async close() {
      for (const b of Object.values(breakers)) b.shutdown();
      await contract.close();
    },
  };
}

/** The contract side's processor, and how to close its log destination after its side. */
interface ContractProcessor {
  process: (job: Job) => Promise<unknown>;
  close(): Promise<void>;
}

/** Runs the sides in alternation (bare first) and, in a child process, profiles askq's side. */
export async function run(options: OrchestrationOptions = {}): Promise<BenchResult> {
  const jobs = options.jobs ?? 5000;
  const concurrency = options.concurrency ?? 50;
  const rounds = options.rounds ?? 3;
  const t0 = performance.now();
  const sink = await startDiscardSink();
  process.env.OTEL_EXPORTER_OTLP_ENDPOINT = sink.url;
  process.env.OTEL_METRIC_EXPORT_INTERVAL ??= '60000';
  const telemetry = await startTelemetry('askq-worker');
  let redis: BenchRedis | undefined;
  const sides: Side[] = [];
  const askqSpans = { bytes: 0, requests: 0, jobs: 0 };
  try {
    redis = await benchRedis('orchestration-overhead');
    const url = redis.url;
    /** A side, then its spans sent on (after its window): the sink's bytes are each side's. */
    const side = async (kind: Kind, n: number) => {
      const before = { bytes: sink.traceBytes, requests: sink.requests.traces };
      const measured = await runSide(kind, url, n, concurrency);
      await flushSpans();
      if (kind === 'askq') {
        askqSpans.bytes += sink.traceBytes - before.bytes;
        askqSpans.requests += sink.requests.traces - before.requests;
        askqSpans.jobs += n;
      }
      return measured;
    };
    // A short warm-up of each side (JIT, connections), not counted.
    await side('bare', WARM_UP);
    await side('askq', WARM_UP);
    await side('contract', WARM_UP);
    await side('guarded', WARM_UP);
    for (let r = 0; r < rounds; r++) {
      sides.push(await side('bare', jobs));
      sides.push(await side('askq', jobs));
      sides.push(await side('contract', jobs));
      sides.push(await side('guarded', jobs));
    }
  } finally {
    await telemetry.shutdown();
    await sink.close();
    await redis?.stop();
  }
  const of = (kind: Side['kind']) => sides.filter((s) => s.kind === kind);
  // Each round against the bare round of its own: the machine is shared, so only
  // side-by-side rounds are comparable; the median is the figure.
  const ratiosOf = (kind: Kind) =>
    of(kind)
      .map((a, i) => a.jobsPerSecond / of('bare')[i]!.jobsPerSecond)
      .sort((a, b) => a - b);
  const ratios = ratiosOf('askq');
  const ratio = medianOf(ratios);
  const contractRatios = ratiosOf('contract');
  const contractRatio = medianOf(contractRatios);
  const guardedRatios = ratiosOf('guarded');
  const cpuOf = (kind: Kind) => medianOf(of(kind).map((s) => s.cpuUsPerJob));
  const best = (kind: Side['kind']) => Math.max(...of(kind).map((s) => s.jobsPerSecond));
  const perRound = (kind: Side['kind']) =>
    sides
      .filter((s) => s.kind === kind)
      .map((s) => fmt(s.jobsPerSecond))
      .join(' / ');
  const bare = best('bare');
  const askq = best('askq');
  const redisOf = (kind: Side['kind']) => of(kind).at(-1)!.redis;
  const figures: Figure[] = [
    { figure: `jobs per side / concurrency`, measured: `${fmt(jobs)} / ${concurrency}` },
    { figure: 'bare BullMQ, jobs/s (each round)', measured: perRound('bare') },
    { figure: 'askq, tracing on, jobs/s (each round)', measured: perRound('askq') },
    {
      figure:
        "bare BullMQ doing only the contract's per-job work (five spans, one pino line, askq's result; no askq code), jobs/s (each round)",
      measured: perRound('contract'),
    },
    {
      figure:
        "the contract's work plus the guards askq's other promises require (job data validated with zod, each call through an opossum breaker under a timeout, askq's metrics; no askq code), jobs/s (each round)",
      measured: perRound('guarded'),
    },
    {
      figure: 'wall per job, best round: askq vs bare',
      measured: `${fmt(1000 / askq, 3)} ms vs ${fmt(1000 / bare, 3)} ms`,
    },
    {
      // Less sensitive to the shared machine's load than wall time: what each side costs this
      // process (BullMQ's client side on both; askq's own work on one).
      figure: 'CPU per job of this process, median round: askq vs bare',
      measured: `${fmt(medianOf(of('askq').map((s) => s.cpuUsPerJob)))} µs vs ${fmt(medianOf(of('bare').map((s) => s.cpuUsPerJob)))} µs`,
    },
    {
      figure:
        "CPU per job of this process, median round: the contract's work alone; with the guards (no askq code)",
      measured: `${fmt(cpuOf('contract'))} µs; ${fmt(cpuOf('guarded'))} µs`,
    },
    {
      figure: 'bytes sent to Redis per job: askq vs bare',
      measured: `${fmt(redisOf('askq').bytesInPerJob)} B vs ${fmt(redisOf('bare').bytesInPerJob)} B (the contract's work alone: ${fmt(redisOf('contract').bytesInPerJob)} B)`,
    },
    {
      figure: 'throughput ratio askq / bare (median of the side-by-side rounds; all rounds)',
      goal: '≥ 0.5',
      measured: `${floorTo(ratio)} (${ratios.map((r) => floorTo(r)).join(', ')})`,
      kind: 'side-by-side',
      met: ratio >= 0.5,
    },
    {
      figure:
        "throughput ratio of the contract's work alone (no askq code) / bare (median of the side-by-side rounds; all rounds)",
      measured: `${floorTo(contractRatio)} (${contractRatios.map((r) => floorTo(r)).join(', ')})`,
    },
    {
      figure:
        'throughput ratio of the contract with the guards (no askq code) / bare (median of the side-by-side rounds; all rounds)',
      measured: `${floorTo(medianOf(guardedRatios))} (${guardedRatios.map((r) => floorTo(r)).join(', ')})`,
    },
    {
      // Over every askq job of the run, the warm-up's included.
      figure: "spans exported to the sink by askq's sides (warm-up included)",
      measured: `${askqSpans.requests} OTLP trace requests, ${fmt(askqSpans.bytes / 1e6, 1)} MB, ${fmt(askqSpans.bytes / askqSpans.jobs)} B per job`,
    },
  ];
  const notes: string[] = [
    contractNote(contractRatio, ratio),
    guardsNote({
      contract: cpuOf('contract'),
      guarded: cpuOf('guarded'),
      askq: cpuOf('askq'),
      guardedRatio: medianOf(guardedRatios),
      askqRatio: ratio,
    }),
  ];
  let extra: string | undefined;
  if (options.profile ?? true) {
    const profileJobs = Math.max(jobs, 5000);
    const profile = await profileSide('askq', profileJobs, concurrency);
    const guardedProfile = await profileSide('guarded', profileJobs, concurrency);
    extra = [
      profileMarkdown(profile, profileJobs, concurrency),
      differenceMarkdown(profile, guardedProfile, profileJobs, {
        askq: cpuOf('askq'),
        guarded: cpuOf('guarded'),
      }),
    ].join('\n\n');
    notes.push(...profileNotes(profile));
    notes.push(
      budgetNote(
        profile,
        { askq: cpuOf('askq'), bare: cpuOf('bare'), guarded: cpuOf('guarded') },
        redisOf('askq').bytesInPerJob - redisOf('bare').bytesInPerJob,
      ),
    );
  }
  return {
    id: 'orchestration-overhead',
    title: 'Orchestration overhead',
    compares:
      'askq worker (in-process ports doing no work per call: a fixed embedding, the matches and answer found once; tracing on through the production NodeSDK + BatchSpanProcessor + OTLP/HTTP exporter to a discarding sink, pino at info to /dev/null) vs a bare BullMQ Worker with a no-op processor; same private redis-server, same pre-added jobs (addBulk into a paused queue, clock from resume to last completion), same concurrency, same retention options. Three alternating rounds after a 500-job warm-up of each side; the ratio is the median of (askq round ÷ the bare round just before it), since only side-by-side pairs are comparable on this shared machine. Everything but the model and network is on. A third side in each round, the same bare Worker doing only what askq’s contracts require per job (the five spans of a question’s trace, one pino line, askq’s result; none of askq’s code), measures what the goal asks with askq’s own work at zero; a fourth does the same plus the guards askq’s other promises require of each job (zod validation of its data, an opossum breaker and a per-call timeout around each dependency call, askq’s metrics), through their libraries, still with none of askq’s code.',
    goal: 'askq throughput ≥ 0.5 × bare BullMQ',
    figures,
    notes,
    ...(extra ? { extra } : {}),
    seconds: (performance.now() - t0) / 1000,
  };
}

/** What the contract side says about whose the gap is. */
function contractNote(contract: number, askq: number): string {
  return `Without askq's code: a bare BullMQ Worker doing only what askq's contracts require per job (the five spans of a question's trace through the same SDK and exporter, one pino line, askq's result written to Redis) ran at ${floorTo(contract)} of bare's rate (askq ${floorTo(askq)}). ${
    contract >= 0.5
      ? askq >= 0.5
        ? 'Both meet the goal.'
        : `That meets the goal, so the rest of the gap (${floorTo(contract)} against askq's ${floorTo(askq)}) is what askq does beyond it: the guards its other promises require and its own code (split below).`
      : `That misses the goal too: no worker keeping askq's trace, log line and result on these libraries reaches 0.5 × a no-op processor here; what askq adds beyond it is the distance from ${floorTo(contract)} to askq's ${floorTo(askq)}.`
  }`;
}

/**
 * Splits askq's CPU per job over the contract side's in two: what the guards askq's other
 * promises require cost on their libraries (the guarded side over the contract side), and the
 * rest, askq's own code (askq over the guarded side).
 */
function guardsNote(m: {
  contract: number;
  guarded: number;
  askq: number;
  guardedRatio: number;
  askqRatio: number;
}): string {
  const guards = m.guarded - m.contract;
  const own = m.askq - m.guarded;
  return `With the guards: the contract side plus what askq's other promises require of each job, through their own libraries and with none of askq's code (the job's data validated against the job contract's zod schema, each of the three dependency calls through an opossum breaker of its own under a per-call timeout that can abort it, the metrics askq's worker documents: the job's outcome, two stage durations, the chat call's duration and tokens) ran at ${floorTo(m.guardedRatio)} of bare's rate on ${fmt(m.guarded)} µs of CPU per job (median rounds). Of askq's ${fmt(m.askq - m.contract)} µs per job over the contract side, the guards account for ${fmt(guards)} µs and askq's own code for ${fmt(own)} µs${own <= 0 ? ' (none: askq does the guarded work for no more than the libraries alone)' : `: with askq's own cost at zero it would run at the guarded side's ${floorTo(m.guardedRatio)}, against its ${floorTo(m.askqRatio)}`}.`;
}

/** Runs one side alone in a child under `--cpu-prof` and summarises its profile. */
async function profileSide(
  kind: 'askq' | 'guarded',
  jobs: number,
  concurrency: number,
): Promise<ProfileSummary & { jobsPerSecond: number }> {
  const dir = await mkdtemp(join(tmpdir(), 'askq-bench-prof-'));
  try {
    const child = spawn(
      process.execPath,
      [
        '--cpu-prof',
        `--cpu-prof-dir=${dir}`,
        SELF,
        '--profile-child',
        kind,
        '--jobs',
        String(jobs),
        '--concurrency',
        String(concurrency),
      ],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    if (code !== 0) throw new Error(`profile child exited with ${code}`);
    const file = (await readdir(dir)).find((f) => f.endsWith('.cpuprofile'));
    if (!file) throw new Error('no .cpuprofile written');
    const m = /PROFILE_WINDOW (\d+) (\d+) ([\d.]+)/.exec(out);
    if (!m) throw new Error(`profile child printed no window: ${out}`);
    const summary = await summarizeCpuProfile(join(dir, file), ROOT, {
      startUs: Number(m[1]),
      endUs: Number(m[2]),
    });
    return { ...summary, jobsPerSecond: Number(m[3]) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The profiled child: one side only, tracing on, then a clean exit so V8 writes the profile. */
async function profileChild(kind: Kind, jobs: number, concurrency: number): Promise<void> {
  const sink = await startDiscardSink();
  process.env.OTEL_EXPORTER_OTLP_ENDPOINT = sink.url;
  process.env.OTEL_METRIC_EXPORT_INTERVAL ??= '60000';
  const telemetry = await startTelemetry('askq-worker');
  const redis = await benchRedis('orchestration-overhead');
  try {
    // The guarded side returns the result askq's worker returned for a job: answer one first.
    if (kind !== 'askq') await runSide('askq', redis.url, 1, concurrency);
    await runSide(kind, redis.url, WARM_UP, concurrency);
    const side = await runSide(kind, redis.url, jobs, concurrency);
    console.log(`PROFILE_WINDOW ${side.window.startUs} ${side.window.endUs} ${side.jobsPerSecond}`);
  } finally {
    await telemetry.shutdown();
    await sink.close();
    await redis.stop();
  }
}

function medianOf(values: number[]): number {
  return [...values].sort((a, b) => a - b)[Math.floor((values.length - 1) / 2)]!;
}

function pct(share: number): string {
  return `${(share * 100).toFixed(1)} %`;
}

function profileMarkdown(
  p: ProfileSummary & { jobsPerSecond: number },
  jobs: number,
  concurrency: number,
): string {
  const fns = p.functions.slice(0, 10);
  const places = p.places.slice(0, 12);
  return [
    `Profile of the askq side: a child process under \`node --cpu-prof\`, ${fmt(jobs)} jobs after a 500-job warm-up, concurrency ${concurrency}, tracing on; ${fmt(p.jobsPerSecond)} jobs/s while profiled. Only samples inside the measured window (resume to last completion) are counted: ${fmt(p.totalMs)} ms, i.e. ${fmt((p.totalMs * 1000) / jobs)} µs of this process's CPU-or-idle time per job (Redis's own time is in another process).`,
    '',
    'Top 10 functions by self time:',
    '',
    '| # | function (file:line) | self ms | share |',
    '| --- | --- | --- | --- |',
    ...fns.map(
      (f, i) =>
        `| ${i + 1} | \`${f.name.replace(/\|/g, '\\|')}\` | ${fmt(f.ms)} | ${pct(f.share)} |`,
    ),
    '',
    'Self time by place (package or src file; time in Node internals and native code is billed to the nearest caller outside them):',
    '',
    '| place | self ms | share |',
    '| --- | --- | --- |',
    ...places.map((f) => `| \`${f.name}\` | ${fmt(f.ms)} | ${pct(f.share)} |`),
  ].join('\n');
}

/**
 * askq's side against the guarded side's (the same Worker doing only what askq's contracts
 * and its guards require, with no askq code), place by place in each one's profiled run, and
 * the difference, largest first: where askq's own cost goes, the library work and garbage its
 * code causes included. In sampled time per job, not scaled to the measured rounds' CPU: the two profiled
 * children wait for a core differently (the sampler bills those waits as busy), and scaling
 * each by its own measured total would move a place's µs between sides that do the same work
 * there (both send Redis the same commands and bytes).
 */
function differenceMarkdown(
  askq: ProfileSummary,
  guarded: ProfileSummary,
  jobs: number,
  measured: { askq: number; guarded: number },
): string {
  const sampled = (p: ProfileSummary) =>
    (p.places.filter((x) => x.name !== '(idle)').reduce((sum, x) => sum + x.ms, 0) * 1000) / jobs;
  const a = { summary: askq, usPerJob: sampled(askq) };
  const g = { summary: guarded, usPerJob: sampled(guarded) };
  const { srcOnlyUs, table } = differenceTable(placeDifferences(a, g), {
    a: 'askq',
    b: 'contract with the guards',
  });
  return [
    `askq against the contract's work with the guards (no askq code), each in a profiled run of its own (the guarded side profiled like askq's above, ${fmt(jobs)} jobs each): ${fmt(a.usPerJob)} vs ${fmt(g.usPerJob)} µs of sampled busy time per job (${fmt(a.usPerJob - g.usPerJob)} µs more; the measured rounds' CPU per job was ${fmt(measured.askq)} vs ${fmt(measured.guarded)} µs, ${fmt(measured.askq - measured.guarded)} µs more). askq's src/ files, which the guarded side does not run, come to ${fmt(srcOnlyUs)} µs; the rest of the difference is library, Node and GC work, some of it caused by askq's code (its events, policy layers, richer spans and log line, and their garbage) and a little by the harness's ports (\`bench/lib/instant-ports.ts\`: a map lookup per call), which only askq's side calls. Two profiled runs differ and the sampler bills wall time (a wait for a core included), so a few µs at one place are within the noise. The 15 places with the largest difference:`,
    '',
    ...table,
  ].join('\n');
}

/**
 * Whether cutting askq's own code could reach the goal: at 0.5 × bare's throughput with both
 * sides bound by this process's CPU, askq may spend at most twice bare's CPU per job.
 */
function budgetNote(
  p: ProfileSummary,
  cpu: { askq: number; bare: number; guarded: number },
  extraBytes: number,
): string {
  const busy = p.places.filter((x) => x.name !== '(idle)');
  const busyMs = busy.reduce((a, b) => a + b.ms, 0);
  const srcShare =
    busy.filter((x) => x.name.startsWith('src/')).reduce((a, b) => a + b.ms, 0) / busyMs;
  const budget = 2 * cpu.bare;
  const within = cpu.guarded <= budget;
  return `The goal's budget: at 0.5 × bare's rate, with both sides bound by this process's CPU, askq may spend ≤ ${fmt(budget)} µs per job (twice bare's ${fmt(cpu.bare)} µs); it spends ${fmt(cpu.askq)} µs. Without askq's code, the guarded side (everything askq's promises require per job: BullMQ and ioredis carrying askq's result, ${fmt(extraBytes)} B more to Redis per job than bare's, nearly all of it the answer with its sources; the five spans of a question's trace; pino's line; the guards) spends ${fmt(cpu.guarded)} µs, ${within ? `within the budget: the gap is askq's own code, ${fmt(cpu.askq - cpu.guarded)} µs per job` : `over the budget too: in this run the libraries' share alone misses the goal, and askq's own code adds ${fmt(cpu.askq - cpu.guarded)} µs per job to it`}. askq's src/ files themselves are ${fmt(cpu.askq * srcShare)} µs of it (their share of the profile's busy samples); the rest is library, Node and GC work their calls cause (the place-by-place comparison below).`;
}

function profileNotes(p: ProfileSummary): string[] {
  const src = p.places.filter((x) => x.name.startsWith('src/'));
  const srcShare = src.reduce((a, b) => a + b.share, 0);
  const top = (prefix: string) =>
    p.places.filter((x) => x.name.startsWith(prefix)).reduce((a, b) => a + b.share, 0);
  return [
    `Profile shares of self time: askq's own src/ files ${pct(srcShare)} (top: ${src
      .slice(0, 3)
      .map((x) => `${x.name} ${pct(x.share)}`)
      .join(
        ', ',
      )}); OpenTelemetry packages ${pct(top('node_modules/@opentelemetry'))}; bullmq ${pct(top('node_modules/bullmq'))}; ioredis ${pct(top('node_modules/ioredis'))}; pino ${pct(top('node_modules/pino'))}; opossum ${pct(top('node_modules/opossum'))}; zod ${pct(top('node_modules/zod'))}; Node internals / native with no package on the stack (timers, socket callbacks) ${pct(top('(Node internals'))}; GC ${pct(top('(garbage collector)'))}; idle ${pct(top('(idle)'))}.`,
  ];
}

const { values } = parseArgs({
  strict: false,
  options: {
    jobs: { type: 'string', default: '5000' },
    concurrency: { type: 'string', default: '50' },
    rounds: { type: 'string', default: '3' },
    'profile-child': { type: 'string' },
    'no-profile': { type: 'boolean', default: false },
  },
});
const profiled = values['profile-child'];
if (import.meta.main && profiled !== undefined) {
  if (profiled !== 'askq' && profiled !== 'guarded') {
    throw new Error(`--profile-child takes askq or guarded, not ${String(profiled)}`);
  }
  await profileChild(profiled, Number(values.jobs), Number(values.concurrency));
} else {
  await runAsScript(import.meta.main, () =>
    run({
      jobs: Number(values.jobs),
      concurrency: Number(values.concurrency),
      rounds: Number(values.rounds),
      profile: !values['no-profile'],
    }),
  );
}
