import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Queue, QueueEvents } from 'bullmq';

import { AskqClient, clientOptionsFromConfig } from '../../src/producer/askq-client.ts';
import { type Config, loadConfig } from '../../src/shared/config.ts';
import { type AnswerResult, QUESTIONS_QUEUE } from '../../src/shared/contracts.ts';
import { readJobState } from '../../src/shared/job-state.ts';
import { type LocalRedis, startLocalRedis } from '../../src/shared/local-redis.ts';
import { createLogger } from '../../src/shared/logger.ts';
import { createRedisConnection } from '../../src/shared/redis.ts';
import { redisSettingsFrom } from '../../src/shared/redis-settings.ts';
import {
  AskqWorker,
  type AskqWorkerOptions,
  workerOptionsFromConfig,
} from '../../src/worker/askq-worker.ts';
import { createProviders } from '../../src/worker/providers/create-providers.ts';
import { providerOptionsFromConfig } from '../../src/worker/providers/provider-options.ts';
import {
  type FakeOpenAI,
  type FakeOpenAIOptions,
  hashEmbedding,
  type RecordedRequest,
  startFakeOpenAI,
} from './fake-openai-server.ts';
import { pollUntil } from './poll-until.ts';
import { type LocalCluster, startLocalCluster } from './redis-cluster.ts';
import { type LocalSentinel, startLocalSentinel } from './redis-sentinel.ts';
import { release, track } from './resources.ts';
import { spawnCli } from './run-cli.ts';

/**
 * Everything one fault scenario runs against, private to it: a redis-server with AOF in a temp
 * folder (killable and restartable on the same port and folder), the OpenAI-compatible fake
 * serving chat and embeddings through the real LangChain path, a LanceDB store in a temp folder
 * holding a few tiny documents, a producer, an inspection queue and a QueueEvents tally.
 * Workers are real `askq worker` processes ({@link FaultStack.spawnWorker}) or in-process
 * {@link AskqWorker}s; {@link FaultStack.close} stops whatever is still running.
 */
export interface FaultStack {
  /** The single redis-server (topology `single`; throws otherwise). */
  readonly redis: LocalRedis;
  /** The local Redis Cluster (topology `cluster`). */
  readonly cluster: LocalCluster | undefined;
  /** The master, replica and sentinels (topology `sentinel`). */
  readonly sentinel: LocalSentinel | undefined;
  readonly fake: FakeOpenAI;
  /** The environment a user would set; spawned workers get exactly this (plus PATH, HOME). */
  readonly env: Record<string, string>;
  readonly config: Config;
  readonly client: AskqClient;
  /** The questions queue on a connection that waits through Redis restarts. */
  readonly queue: Queue;
  /** `completed` / `failed` / `stalled` events seen per job id, from before the first job. */
  readonly events: EventTally;
  /**
   * Per question number (see {@link questionNumbers}): chat requests about it and embeddings
   * inputs of it the fake received, failed ones included. Embeddings of concurrent jobs share
   * requests, so these count questions, not requests.
   */
  readonly perQuestion: { chat: Map<number, number>; embedded: Map<number, number> };
  /** Starts `askq worker` and resolves once it logs `worker started`. */
  spawnWorker(options?: {
    concurrency?: number;
    env?: Record<string, string>;
  }): Promise<WorkerProcess>;
  /** Starts an in-process worker with this stack's configuration (logs silenced). */
  startWorker(options?: AskqWorkerOptions): Promise<AskqWorker>;
  /** Enqueues `count` questions through the client; returns their ids in order. */
  enqueue(count: number, question?: (i: number) => string): Promise<string[]>;
  /** SIGKILLs redis-server and waits for it to exit. */
  killRedis(): Promise<void>;
  /** Starts redis-server again on the same port and folder (it reloads its AOF). */
  restartRedis(): Promise<void>;
  /**
   * Resolves once `done()` holds; re-checked on every queue event and at least every 500 ms
   * (events emitted while Redis restarts may never arrive). Rejects after `timeoutMs`.
   */
  waitFor(label: string, done: () => Promise<boolean>, timeoutMs: number): Promise<void>;
  /**
   * Resolves once every job in `ids` is completed or failed. Bounded by progress, not by the
   * clock: rejects only when no job of the queue has finished for `stallMs` (a loaded machine
   * is slow, a stuck one makes no progress); the test's own timeout bounds the whole run.
   */
  waitForFinished(ids: string[], stallMs: number): Promise<void>;
  /** Each job's state, attempts and result as Redis holds them now. */
  outcomes(ids: string[]): Promise<JobOutcome[]>;
  close(): Promise<void>;
}

export interface EventTally {
  completed: Map<string, number>;
  failed: Map<string, number>;
  stalled: Map<string, number>;
}

/** A running `askq worker` process. */
export interface WorkerProcess {
  child: ChildProcess;
  /** stdout and stderr so far. */
  output(): string;
  /** Its JSON log lines so far. */
  logLines(): Record<string, unknown>[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** One job as Redis holds it. */
export interface JobOutcome {
  id: string;
  state: string;
  question: string;
  /** `returnvalue.attempts` of a completed job. */
  attempts: number | undefined;
  /** BullMQ's count of starts: attempts, rate-limit and breaker pauses, stall recoveries. */
  attemptsStarted: number;
  stalledCounter: number;
  failedReason: string | undefined;
  /** The worker's recorded class of the last failure. */
  errorClass: string | undefined;
  result: AnswerResult | undefined;
}

export interface FaultStackOptions {
  /**
   * `single`: one redis-server with AOF, killable and restartable. `cluster`: 3 masters and 3
   * replicas (prefix `{faults}`). `sentinel`: a master, a replica and 3 sentinels.
   * @defaultValue single
   */
  topology?: 'single' | 'cluster' | 'sentinel';
  /** Scenario settings (ASKQ_* timings and limits), as a user sets them. */
  env?: Record<string, string>;
  fake?: FakeOpenAIOptions;
}

/** Three tiny documents, put into the store before the run so answers have sources. */
export const FAULT_DOCUMENTS = [
  { id: 'retries.md', text: 'BullMQ retries a failed job with exponential backoff and jitter.' },
  { id: 'breakers.md', text: 'A circuit breaker stops calls to a dependency that keeps failing.' },
  { id: 'timeouts.md', text: 'Every provider call has its own timeout, response body included.' },
];

const READY_TIMEOUT_MS = 30_000;

export async function startFaultStack(options: FaultStackOptions = {}): Promise<FaultStack> {
  const cleanups: (() => Promise<unknown>)[] = [];
  const runCleanups = async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
  };
  try {
    return await build(options, cleanups, runCleanups);
  } catch (err) {
    await runCleanups();
    throw err;
  }
}

async function build(
  options: FaultStackOptions,
  cleanups: (() => Promise<unknown>)[],
  runCleanups: () => Promise<void>,
): Promise<FaultStack> {
  const topology = options.topology ?? 'single';
  const redisDir = await mkdtemp(join(tmpdir(), 'askq-faults-redis-'));
  cleanups.push(() => rm(redisDir, { recursive: true, force: true }));
  let redis: LocalRedis | undefined;
  let cluster: LocalCluster | undefined;
  let sentinel: LocalSentinel | undefined;
  let redisEnv: Record<string, string>;
  if (topology === 'cluster') {
    cluster = await startLocalCluster();
    cleanups.push(() => cluster!.stop());
    redisEnv = { ...cluster.env, ASKQ_PREFIX: '{faults}' };
  } else if (topology === 'sentinel') {
    sentinel = await startLocalSentinel();
    cleanups.push(() => sentinel!.stop());
    redisEnv = sentinel.env;
  } else {
    redis = await startLocalRedis({ appendonly: true, dir: redisDir });
    cleanups.push(() => redis!.stop());
    redisEnv = { REDIS_URL: redis.url };
  }
  const port = redis?.port;
  const perQuestion = { chat: new Map<number, number>(), embedded: new Map<number, number>() };
  const fake = await startFakeOpenAI({
    ...options.fake,
    onTraffic: (event) => {
      if (event.kind === 'request' && (event.route === 'chat' || event.route === 'embeddings')) {
        const tally = event.route === 'chat' ? perQuestion.chat : perQuestion.embedded;
        for (const n of questionNumbers(event.request)) tally.set(n, (tally.get(n) ?? 0) + 1);
      }
      options.fake?.onTraffic?.(event);
    },
  });
  cleanups.push(() => fake.close());
  const storeDir = await mkdtemp(join(tmpdir(), 'askq-faults-store-'));
  cleanups.push(() => rm(storeDir, { recursive: true, force: true }));

  const env: Record<string, string> = {
    ASKQ_PREFIX: 'faults',
    ...redisEnv,
    OPENAI_API_KEY: 'sk-faults-0123456789',
    OPENAI_BASE_URL: fake.url,
    ASKQ_LLM: 'openai',
    ASKQ_EMBEDDINGS: 'openai',
    ASKQ_VECTOR_STORE: 'local',
    ASKQ_LOCAL_STORE_DIR: storeDir,
    LOG_LEVEL: 'info',
    ...options.env,
  };
  const config = loadConfig(env);
  await seedStore(config);

  const settings = redisSettingsFrom(config);
  const connection = createRedisConnection(settings, 'worker');
  cleanups.push(async () => connection.disconnect());
  const queue = new Queue(QUESTIONS_QUEUE, { connection, prefix: config.ASKQ_PREFIX });
  queue.on('error', () => {});
  cleanups.push(() => queue.close());
  const client = new AskqClient(clientOptionsFromConfig(config));
  cleanups.push(() => client.close());

  const eventsConnection = createRedisConnection(settings, 'worker');
  cleanups.push(async () => eventsConnection.disconnect());
  const queueEvents = new QueueEvents(QUESTIONS_QUEUE, {
    connection: eventsConnection,
    prefix: config.ASKQ_PREFIX,
  });
  queueEvents.on('error', () => {});
  cleanups.push(() => queueEvents.close());
  await queueEvents.waitUntilReady();
  const events: EventTally = { completed: new Map(), failed: new Map(), stalled: new Map() };
  const listeners = new Set<() => void>();
  const bump = (map: Map<string, number>, id: string) => {
    map.set(id, (map.get(id) ?? 0) + 1);
    for (const listener of listeners) listener();
  };
  queueEvents.on('completed', ({ jobId }) => bump(events.completed, jobId));
  queueEvents.on('failed', ({ jobId }) => bump(events.failed, jobId));
  queueEvents.on('stalled', ({ jobId }) => bump(events.stalled, jobId));

  const processes = new Set<ChildProcess>();
  cleanups.push(async () => {
    for (const child of processes) {
      if (child.exitCode !== null || child.signalCode !== null) continue;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
    }
  });
  const inProcess = new Set<AskqWorker>();
  cleanups.push(async () => {
    for (const worker of inProcess) {
      await worker.close(2000);
      // A worker handed its ports does not own them: their store is ours to close.
      if (!ownedPorts.has(worker)) await worker.ports.store.close();
    }
  });
  const ownedPorts = new WeakSet<AskqWorker>();

  const stack: FaultStack = {
    get redis() {
      if (!redis) throw new Error(`no single redis-server in a ${topology} stack`);
      return redis;
    },
    cluster,
    sentinel,
    fake,
    env,
    config,
    client,
    queue,
    events,
    perQuestion,

    async spawnWorker(opts = {}) {
      const args = [
        'worker',
        ...(opts.concurrency ? ['--concurrency', String(opts.concurrency)] : []),
      ];
      const child = spawnCli(args, { ...env, ...opts.env });
      processes.add(child);
      let output = '';
      child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
      child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>(
        (resolve) => child.once('exit', (code, signal) => resolve({ code, signal })),
      );
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          reject(new Error(`askq worker not ready in ${READY_TIMEOUT_MS} ms:\n${output}`));
        }, READY_TIMEOUT_MS);
        const onData = () => {
          if (!output.includes('"worker started"')) return;
          clearTimeout(timer);
          child.stdout?.off('data', onData);
          resolve();
        };
        child.stdout?.on('data', onData);
        void exited.then(({ code, signal }) => {
          clearTimeout(timer);
          reject(new Error(`askq worker exited (${code ?? signal}) before ready:\n${output}`));
        });
      });
      return {
        child,
        output: () => output,
        logLines: () => parseLogLines(output),
        exited,
      };
    },

    async startWorker(opts = {}) {
      const worker = await AskqWorker.start({
        ...workerOptionsFromConfig(config),
        logger: createLogger({ level: 'silent' }),
        ...opts,
      });
      inProcess.add(worker);
      if (!opts.ports) ownedPorts.add(worker);
      await worker.waitUntilReady();
      return worker;
    },

    async enqueue(count, question = defaultQuestion) {
      const items = Array.from({ length: count }, (_, i) => ({ question: question(i) }));
      return (await client.askMany(items)).ids;
    },

    async killRedis() {
      const child = stack.redis.process;
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
    },

    async restartRedis() {
      redis = await startLocalRedis({ appendonly: true, port: port!, dir: redisDir });
    },

    waitFor(label, done, timeoutMs) {
      return pollUntil(listeners, () => done(), {
        timeoutMs,
        timedOut: () => new Error(`timed out after ${timeoutMs} ms waiting for ${label}`),
      });
    },

    waitForFinished(ids, stallMs) {
      const wanted = new Set(ids);
      let finishedInQueue = -1;
      return pollUntil(
        listeners,
        async (progressed) => {
          const counts = await queue.getJobCounts('completed', 'failed');
          const finished = (counts.completed ?? 0) + (counts.failed ?? 0);
          if (finished > finishedInQueue) {
            finishedInQueue = finished;
            progressed();
          }
          if (finished < wanted.size) return false;
          const states = await Promise.all(ids.map((id) => queue.getJobState(id)));
          return states.every((s) => s === 'completed' || s === 'failed');
        },
        {
          timeoutMs: stallMs,
          timedOut: async () => {
            // Say which jobs are stuck and where, so a stall can be told from slowness.
            const stuck = await Promise.all(ids.map((id) => queue.getJob(id)))
              .then((jobs) =>
                Promise.all(
                  jobs.map(async (job, i) => {
                    const state = job ? await job.getState() : 'missing';
                    if (state === 'completed' || state === 'failed') return undefined;
                    return `${ids[i]}: ${state}, ${job?.attemptsMade ?? 0} attempts made, ${job?.attemptsStarted ?? 0} started, stalled ${job?.stalledCounter ?? 0}`;
                  }),
                ),
              )
              .then((lines) =>
                lines
                  .filter((l) => l !== undefined)
                  .slice(0, 10)
                  .join('; '),
              )
              .catch((err: unknown) => `states unavailable: ${String(err)}`);
            return new Error(
              `no job finished for ${stallMs} ms while waiting for ${ids.length} jobs to ` +
                `finish (${finishedInQueue} finished in the queue; unfinished: ${stuck})`,
            );
          },
        },
      );
    },

    async outcomes(ids) {
      return Promise.all(
        ids.map(async (id): Promise<JobOutcome> => {
          const job = await queue.getJob(id);
          if (!job) {
            return {
              id,
              state: 'missing',
              question: '',
              attempts: undefined,
              attemptsStarted: 0,
              stalledCounter: 0,
              failedReason: undefined,
              errorClass: undefined,
              result: undefined,
            };
          }
          const state = await job.getState();
          const result = state === 'completed' ? (job.returnvalue as AnswerResult) : undefined;
          return {
            id,
            state,
            question: String((job.data as { question?: unknown }).question ?? ''),
            attempts: result?.attempts,
            attemptsStarted: job.attemptsStarted,
            stalledCounter: job.stalledCounter,
            failedReason: job.failedReason || undefined,
            errorClass: readJobState(job.data).lastErrorClass,
            result,
          };
        }),
      );
    },

    async close() {
      release(stack);
      await runCleanups();
    },
  };
  return track(stack, 'FaultStack');
}

/** The question {@link FaultStack.enqueue} asks by default; `Question n` makes it traceable. */
export function defaultQuestion(i: number): string {
  return `Question ${i}: how does BullMQ retry a failed job?`;
}

/** Puts {@link FAULT_DOCUMENTS} into the store with the vectors the fake's embeddings return. */
async function seedStore(config: Config): Promise<void> {
  const { store } = await createProviders(providerOptionsFromConfig(config));
  try {
    await store.upsert(
      config.ASKQ_NAMESPACE,
      FAULT_DOCUMENTS.map((d) => ({
        id: `${d.id}#0`,
        docId: d.id,
        chunk: 0,
        text: d.text,
        values: hashEmbedding(d.text, 64),
      })),
    );
  } finally {
    await store.close();
  }
}

function parseLogLines(output: string): Record<string, unknown>[] {
  const lines: Record<string, unknown>[] = [];
  for (const line of output.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      lines.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // a line cut mid-write by SIGKILL
    }
  }
  return lines;
}

// The fault tests import the figures helper from here, next to the stack they measure.
export { printFigures } from './fault-figures.ts';

/** Jobs whose result appears more than once (ids with two or more `completed` events). */
export function duplicateResults(events: EventTally): number {
  return [...events.completed.values()].filter((n) => n > 1).length;
}

/** The largest of `values`, or 0. */
export function maxOf(values: (number | undefined)[]): number {
  return values.reduce<number>((m, v) => Math.max(m, v ?? 0), 0);
}

/**
 * The `n` of each `Question n` a chat or embeddings request carries (questions are numbered by
 * {@link defaultQuestion}), so a `decide` hook can fault chosen jobs and a test can count calls
 * per job. A chat request carries one; a shared embeddings request one per input.
 */
export function questionNumbers(request: RecordedRequest): number[] {
  const body = request.body as { messages?: { content?: unknown }[]; input?: unknown } | undefined;
  const text = JSON.stringify(body?.messages ?? body?.input ?? '');
  return [...text.matchAll(/Question (\d+):/g)].map((m) => Number(m[1]));
}
