/**
 * One level of the LLM-bound scaling benchmark (bench/llm-scaling.ts), run in a worker process
 * of its own (bench/lib/llm-level-child.ts): the jobs wait in a paused queue, added by the
 * parent; the child warms up, starts a fresh worker, resumes the queue and measures until the
 * last completion. A process per level, as `askq worker` runs, keeps one level's heap, JIT
 * state and sockets out of the next and gives askq and the bare worker the same start.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import { ChatOpenAI } from '@langchain/openai';
import { Queue, Worker } from 'bullmq';

import { QUESTIONS_QUEUE } from '../../src/shared/contracts.ts';
import { DEFAULTS } from '../../src/shared/defaults.ts';
import { nodeHttpFetch } from '../../src/worker/providers/openai/node-http-fetch.ts';
import { chatMessages, OpenAIChat } from '../../src/worker/providers/openai/openai-chat.ts';
import { prefillPaused, startBenchWorker } from './askq.ts';
import { contractLog } from './contract-log.ts';
import { InProcessProfiler } from './in-process-profiler.ts';
import { instantPorts, questions } from './instant-ports.ts';
import {
  measureMachineBusy,
  measureProcesses,
  measureProcessLoad,
  type ProcessLoad,
} from './measure.ts';
import { stopChild, waitForLine } from './processes.ts';
import { waitForCompleted } from './wait.ts';

const CHILD = fileURLToPath(new URL('./llm-level-child.ts', import.meta.url));

/** Turns left out at the start of a level's sustained window (see {@link Level.sustained}). */
export const WARM_TURNS = 3;

/**
 * `askq`: askq's worker (its questions queue, the real chat path OpenAIChat → LangChain
 * ChatOpenAI → openai SDK → HTTP, instant embeddings and store). `bare`: a BullMQ Worker whose
 * processor only calls LangChain's ChatOpenAI as it comes (the openai SDK on Node's fetch).
 * `bare-node-http`: the same bare Worker with the one piece of askq its chat client uses
 * below LangChain, the `fetch` askq hands the openai SDK (nodeHttpFetch, over node:http).
 * `contract`: that Worker doing only what askq's answer contract requires (see
 * {@link startContractWorker}).
 */
export type LevelKind = 'askq' | 'bare' | 'bare-node-http' | 'contract';

/** What one level runs against and how; handed to the child as JSON. */
export interface LevelSpec {
  kind: LevelKind;
  redisUrl: string;
  fakeUrl: string;
  redisPid: number | undefined;
  fakePid: number | undefined;
  /** BullMQ key prefix of the level's queue (a fresh one per level). */
  prefix: string;
  concurrency: number;
  jobs: number;
  latencyMs: number;
  /** Keep V8's samples of the measured window in this `.cpuprofile`. */
  profileOut?: string;
}

export interface Level extends ProcessLoad {
  kind: LevelKind;
  /**
   * Jobs/s between the completion of the first {@link WARM_TURNS} turns (concurrency × that
   * many jobs) and that of all but the last turn: a running worker's sustained rate, without
   * the start (a fresh worker fetching its first `concurrency` jobs one round trip each and
   * opening its sockets) and the drain (the last turn's slowest slot).
   */
  sustained: number;
  fakeCores: number;
  redisCores: number;
  machineBusy: number;
  concurrency: number;
  jobs: number;
  seconds: number;
  achieved: number;
  ideal: number;
}

const RESULT_MARKER = 'LEVEL_RESULT';
/** Chunks per question: askq's default `topK`. */
const TOP_K = 4;
const RETENTION = { removeOnComplete: { count: 10_000 } };

function queueName(kind: LevelKind): string {
  return kind === 'askq' ? QUESTIONS_QUEUE : 'bare-questions';
}

/** The queue a level's (or its warm-up's) jobs wait in, under its own prefix. */
function levelQueue(spec: LevelSpec): Queue {
  return new Queue(queueName(spec.kind), {
    connection: { url: spec.redisUrl },
    prefix: spec.prefix,
  });
}

/**
 * Runs one level in a fresh worker process: adds its jobs to a paused queue here, then the
 * child warms up, starts its worker and measures. Removes the level's queue afterwards.
 */
export async function runLevelInChild(spec: LevelSpec): Promise<Level> {
  const queue = levelQueue(spec);
  try {
    await prefillPaused(queue, questions(spec.jobs), RETENTION);
    const child = spawn(process.execPath, [CHILD, JSON.stringify(spec)], {
      // stdin is a pipe only so the child sees it close when this process dies.
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    try {
      const line = await waitForLine(
        child,
        () => new RegExp(`${RESULT_MARKER} (\\{.*\\})\\n`).exec(out)?.[1],
        180_000,
      );
      return JSON.parse(line) as Level;
    } finally {
      await stopChild(child);
    }
  } finally {
    await queue.obliterate({ force: true }).catch(() => {});
    await queue.close();
  }
}

/**
 * The child's part: a warm-up (JIT, first connections; 50 jobs at concurrency 10 through a
 * worker of the same kind, not measured), then a fresh worker on the level's paused queue,
 * clocked from `resume()` to its last completion. Prints `LEVEL_RESULT {json}`.
 */
export async function measureLevelHere(spec: LevelSpec): Promise<void> {
  const warm = { ...spec, prefix: `${spec.prefix}-warm`, concurrency: 10, jobs: 50 };
  const warmQueue = levelQueue(warm);
  await prefillPaused(warmQueue, questions(warm.jobs), RETENTION);
  await timeLevel(warm, warmQueue);
  await warmQueue.obliterate({ force: true });
  await warmQueue.close();

  const queue = levelQueue(spec);
  const profiler = spec.profileOut ? await InProcessProfiler.open() : undefined;
  const level = await timeLevel(spec, queue, profiler);
  if (profiler && spec.profileOut) await profiler.save(spec.profileOut);
  await queue.close();
  process.stdout.write(`${RESULT_MARKER} ${JSON.stringify(level)}\n`);
}

async function timeLevel(spec: LevelSpec, queue: Queue, profiler?: InProcessProfiler) {
  const worker = await startWorker(spec);
  try {
    const done = waitForCompleted(worker.bullmq, spec.jobs, 120_000);
    const completedAt: number[] = [];
    worker.bullmq.on('completed', () => completedAt.push(performance.now()));
    await profiler?.start();
    const load = measureProcessLoad();
    const others = measureProcesses({ fake: spec.fakePid, redis: spec.redisPid });
    const machine = measureMachineBusy();
    const started = performance.now();
    await queue.resume();
    await done;
    const seconds = (performance.now() - started) / 1000;
    const l = load();
    const o = others();
    const machineBusy = machine();
    await profiler?.stop();
    return {
      kind: spec.kind,
      machineBusy,
      fakeCores: o.fake!,
      redisCores: o.redis!,
      concurrency: spec.concurrency,
      jobs: spec.jobs,
      seconds,
      achieved: spec.jobs / seconds,
      sustained: sustainedRate(completedAt, spec.concurrency),
      ideal: spec.concurrency / (spec.latencyMs / 1000),
      ...l,
    } satisfies Level;
  } finally {
    await worker.close();
  }
}

/** The level's BullMQ Worker, started and ready, and how to stop it. */
async function startWorker(spec: LevelSpec): Promise<{ bullmq: Worker; close(): Promise<void> }> {
  if (spec.kind === 'askq') {
    const ports = await instantPorts();
    const worker = await startBenchWorker({
      env: { REDIS_URL: spec.redisUrl, ASKQ_PREFIX: spec.prefix },
      ports: {
        chat: new OpenAIChat({ apiKey: 'sk-bench', baseURL: spec.fakeUrl, model: 'gpt-4o-mini' }),
        embeddings: ports.embeddings,
        store: ports.store,
      },
      concurrency: spec.concurrency,
    });
    return { bullmq: worker.questions, close: () => worker.close(10_000) };
  }
  const chat = new ChatOpenAI({
    model: 'gpt-4o-mini',
    apiKey: 'sk-bench',
    configuration: {
      baseURL: spec.fakeUrl,
      ...(spec.kind === 'bare' ? {} : { fetch: nodeHttpFetch }),
    },
  });
  if (spec.kind === 'contract') return startContractWorker(spec, chat);
  // The request askq sends (its two messages around the top four chunks of the same corpus),
  // so both sides carry the same bytes to the model and back; no retrieval per job.
  const context = [...(await instantPorts()).records.values()]
    .slice(0, TOP_K)
    .map((r) => ({ docId: r.docId, chunk: r.chunk, text: r.text, score: 1 }));
  const worker = new Worker(
    queueName('bare'),
    async (job) => {
      const messages = chatMessages({ question: String(job.data.question), context });
      return { answer: (await chat.invoke(messages)).content };
    },
    { connection: { url: spec.redisUrl }, prefix: spec.prefix, concurrency: spec.concurrency },
  );
  await worker.waitUntilReady();
  return { bullmq: worker, close: () => worker.close() };
}

/**
 * Completions per second from the end of the first {@link WARM_TURNS} turns to the end of the
 * last turn but one; NaN when there are too few completions for a window.
 */
function sustainedRate(completedAt: number[], concurrency: number): number {
  const from = WARM_TURNS * concurrency - 1;
  const to = completedAt.length - 1 - concurrency;
  if (to - from < concurrency) return NaN;
  return ((to - from) / (completedAt[to]! - completedAt[from]!)) * 1000;
}

/**
 * A bare BullMQ Worker on askq's HTTP adapter doing per job only what askq's answer contract
 * requires, with none of askq's code: retrieval on the same instant ports (embed the question,
 * query the top four chunks), the chat call with askq's messages around them, one pino line
 * at info to /dev/null, and a result of askq's shape (the answer, four sources with excerpts
 * of ASKQ_SOURCE_TEXT_CHARS's default length, model, usage, timings, attempts). No breakers,
 * timeouts, metrics, validation or events: a floor, not a copy.
 */
async function startContractWorker(
  spec: LevelSpec,
  chat: ChatOpenAI,
): Promise<{ bullmq: Worker; close(): Promise<void> }> {
  const ports = await instantPorts();
  const { log, close: closeLog } = contractLog();
  const worker = new Worker(
    queueName('bare'),
    async (job) => {
      const question = String(job.data.question);
      const t0 = performance.now();
      const vector = await ports.embeddings.embedQuery(question);
      const matches = await ports.store.query('default', vector, TOP_K);
      const t1 = performance.now();
      const message = await chat.invoke(chatMessages({ question, context: matches }));
      const t2 = performance.now();
      const usage = {
        inputTokens: message.usage_metadata?.input_tokens ?? 0,
        outputTokens: message.usage_metadata?.output_tokens ?? 0,
      };
      const timings = {
        queueMs: (job.processedOn ?? 0) - job.timestamp,
        retrieveMs: Math.round((t1 - t0) * 10) / 10,
        generateMs: Math.round((t2 - t1) * 10) / 10,
        totalMs: Date.now() - job.timestamp,
      };
      log.info({ job_id: job.id, timings, usage, sources: matches.length }, 'answered');
      return {
        answer: message.text,
        sources: matches.map((m) => ({
          id: m.docId,
          chunk: m.chunk,
          score: m.score,
          text: m.text.slice(0, DEFAULTS.sourceTextChars),
        })),
        degraded: false,
        model: String(message.response_metadata.model_name ?? 'gpt-4o-mini'),
        usage,
        timings,
        attempts: job.attemptsMade + 1,
        traceId: '',
      };
    },
    { connection: { url: spec.redisUrl }, prefix: spec.prefix, concurrency: spec.concurrency },
  );
  await worker.waitUntilReady();
  return {
    bullmq: worker,
    close: async () => {
      await worker.close();
      await closeLog();
    },
  };
}
