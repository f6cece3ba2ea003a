import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, describe, expect, it } from 'vitest';

import { AskqClient, clientOptionsFromConfig } from '../../src/producer/askq-client.ts';
import { apiServerOptionsFromConfig } from '../../src/producer/http/api-server-options.ts';
import { type ApiServer, createApiServer } from '../../src/producer/http/create-api-server.ts';
import { QueueFullError } from '../../src/shared/errors.ts';
import { createLogger } from '../../src/shared/logger.ts';
import { createRedisConnection, type Redis } from '../../src/shared/redis.ts';
import { type FaultStack, printFigures, startFaultStack } from '../support/fault-stack.ts';
import {
  capMemory,
  checkNoOrphans,
  jobIdsInRedis,
  paddedQuestion,
  usedMemory,
} from '../support/full-redis.ts';
import { runCli } from '../support/run-cli.ts';

/** maxmemory is what Redis uses at the start plus this; the high-water mark is 85 % of it. */
const HEADROOM = 4 * 1024 * 1024;
/** Questions of this many characters fill Redis in a few hundred jobs. */
const QUESTION_CHARS = 2000;
const BATCH = 50;
/** Producers flooding at once. */
const PRODUCERS = 3;
/** The flood stops after this many refusals. */
const REFUSALS = 10;
const API_KEY = 'redis-full-key-0123456789abcdef';

const ENV = {
  ASKQ_CONCURRENCY: '8',
  // Completed jobs are removed, so memory falls as the worker drains the queue.
  ASKQ_KEEP_COMPLETED: '20',
  ASKQ_API_KEYS: API_KEY,
};

let stack: FaultStack | undefined;
let redis: Redis | undefined;
const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close().catch(() => {});
  redis?.disconnect();
  redis = undefined;
  await stack?.close();
  stack = undefined;
});

async function setUp(): Promise<{ s: FaultStack; redis: Redis; maxBytes: number }> {
  stack = await startFaultStack({ env: ENV, fake: { latencyMs: 20 } });
  redis = createRedisConnection(stack.redis.url, 'worker');
  const maxBytes = await capMemory(redis, HEADROOM);
  return { s: stack, redis, maxBytes };
}

/** Runs `producers` loops of `send` until `refusals` sends were refused; returns its tallies. */
async function flood(send: (batch: number) => Promise<'accepted' | 'refused'>) {
  let refused = 0;
  let accepted = 0;
  let batch = 0;
  await Promise.all(
    Array.from({ length: PRODUCERS }, async () => {
      while (refused < REFUSALS) {
        if ((await send(batch++)) === 'refused') refused += 1;
        else accepted += 1;
      }
    }),
  );
  return { refused, accepted };
}

/** A flood's figures: acknowledged questions, how many completed, none lost or orphaned. */
function floodFigures(
  s: FaultStack,
  acknowledged: ReadonlySet<string>,
  started: number,
  extra: Record<string, unknown>,
): Record<string, unknown> {
  const completed = [...acknowledged].filter((id) => s.events.completed.has(id)).length;
  return {
    jobs: acknowledged.size,
    completed,
    lost: acknowledged.size - completed,
    orphans: 0,
    ...extra,
    seconds: (performance.now() - started) / 1000,
  };
}

const questions = (batch: number) =>
  Array.from({ length: BATCH }, (_, i) => ({
    question: paddedQuestion(batch * BATCH + i, QUESTION_CHARS),
  }));

describe('fault: Redis fills up', () => {
  it('through the API: 202 or 503 only, no orphans, every acknowledged question answered', async () => {
    const { s, redis, maxBytes } = await setUp();
    const started = performance.now();
    await s.startWorker();
    const server: ApiServer = await createApiServer({
      ...apiServerOptionsFromConfig(s.config),
      logger: createLogger({ level: 'silent' }),
    });
    closers.push(() => server.close());
    const url = await server.listen(0);
    const post = (body: unknown) =>
      fetch(`${url}/v1/questions/batch`, {
        method: 'POST',
        headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });

    const acknowledged = new Set<string>();
    const statuses = new Map<number, number>();
    let peak = 0;
    let outOfMemory = 0;
    const { refused, accepted } = await flood(async (batch) => {
      const response = await post(questions(batch));
      statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
      peak = Math.max(peak, await usedMemory(redis));
      if (response.status === 202) {
        for (const id of ((await response.json()) as { ids: string[] }).ids) acknowledged.add(id);
        return 'accepted';
      }
      expect(response.status).toBe(503);
      expect(response.headers.get('retry-after')).toMatch(/^\d+$/);
      const problem = (await response.json()) as { type: string; detail: string };
      expect(problem.type).toBe('urn:askq:problem:queue-full');
      // Refused by the high-water check, or by Redis itself when a burst ran past it.
      if (/reached maxmemory/.test(problem.detail)) outOfMemory += 1;
      return 'refused';
    });

    expect([...statuses.keys()].sort()).toEqual([202, 503]);
    expect(await checkNoOrphans(s, acknowledged)).toEqual({ orphans: [], lost: [] });
    await s.waitFor(
      'every acknowledged question to complete',
      async () => [...acknowledged].every((id) => s.events.completed.has(id)),
      120_000,
    );
    expect(s.events.failed.size).toBe(0);
    expect([...s.events.completed.keys()].filter((id) => !acknowledged.has(id))).toEqual([]);
    // Drained below the mark: the API accepts again.
    await s.waitFor(
      'readiness to say ready',
      async () => {
        const ready = (await (await fetch(`${url}/readyz`)).json()) as { status: string };
        return ready.status === 'ready';
      },
      30_000,
    );
    expect((await post(questions(0).slice(0, 1))).status).toBe(202);
    printFigures(
      'redis-full-api',
      floodFigures(s, acknowledged, started, {
        maxBytes,
        peakBytes: peak,
        acceptedBatches: accepted,
        refusedBatches: refused,
        refusedByRedisOom: outOfMemory,
      }),
    );
  }, 180_000);

  it('through AskqClient.askMany: QueueFullError, no orphans, every acknowledged question answered', async () => {
    const { s, redis, maxBytes } = await setUp();
    const started = performance.now();
    await s.startWorker();
    const client = new AskqClient(clientOptionsFromConfig(s.config));
    closers.push(() => client.close());

    const acknowledged = new Set<string>();
    let peak = 0;
    let outOfMemory = 0;
    const { refused, accepted } = await flood(async (batch) => {
      try {
        const { ids } = await client.askMany(questions(batch));
        for (const id of ids) acknowledged.add(id);
        return 'accepted';
      } catch (err) {
        expect(err).toBeInstanceOf(QueueFullError);
        if (/out of memory/.test((err as Error).message)) outOfMemory += 1;
        return 'refused';
      } finally {
        peak = Math.max(peak, await usedMemory(redis));
      }
    });

    expect(await checkNoOrphans(s, acknowledged)).toEqual({ orphans: [], lost: [] });
    await s.waitFor(
      'every acknowledged question to complete',
      async () => [...acknowledged].every((id) => s.events.completed.has(id)),
      120_000,
    );
    expect(s.events.failed.size).toBe(0);
    expect([...s.events.completed.keys()].filter((id) => !acknowledged.has(id))).toEqual([]);
    printFigures(
      'redis-full-ask-many',
      floodFigures(s, acknowledged, started, {
        maxBytes,
        peakBytes: peak,
        acceptedBatches: accepted,
        refusedBatches: refused,
        refusedByRedisOom: outOfMemory,
      }),
    );
  }, 180_000);

  it('through `askq eval run`: exit 3 with one line, the run resumes once there is room', async () => {
    const { s, redis, maxBytes } = await setUp();
    const started = performance.now();
    await s.startWorker();
    const dir = await mkdtemp(join(tmpdir(), 'askq-redis-full-eval-'));
    closers.push(() => rm(dir, { recursive: true, force: true }));
    const cases = 2000;
    const file = join(dir, 'cases.jsonl');
    const rows = Array.from({ length: cases }, (_, i) =>
      JSON.stringify({ id: `case-${i}`, question: paddedQuestion(i, QUESTION_CHARS) }),
    );
    await writeFile(file, `${rows.join('\n')}\n`);
    const runDir = join(dir, 'run');

    const first = await runCli(['eval', 'run', file, '--out', runDir], s.env);
    const peak = await usedMemory(redis);
    expect(first.code).toBe(3);
    expect(first.stderr.trim().split('\n')).toHaveLength(1);
    expect(first.stderr).toMatch(/queue is full.*askq eval run --resume/);
    const runId = /--resume (\S+)/.exec(first.stderr)![1]!;
    const inRedis = await jobIdsInRedis(s.queue);
    expect(inRedis.size).toBeGreaterThan(0);
    expect(inRedis.size).toBeLessThan(cases);
    // Every question in Redis is one of this run's cases (ev-<runId>-…): nothing else leaked.
    expect([...inRedis].filter((id) => !id.startsWith(`ev-${runId}-`))).toEqual([]);

    // Eval results are kept by age, so the run's own answers never free memory: the operator
    // gives Redis more, and the run continues where it stopped.
    await redis.config('SET', 'maxmemory', String(maxBytes * 8));
    const resumed = await runCli(['eval', 'run', '--resume', runDir, '--json'], s.env);
    expect(resumed.stderr).toBe('');
    expect(resumed.code).toBe(0);
    const results = (await readFile(join(runDir, 'results.jsonl'), 'utf8'))
      .split('\n')
      .filter(Boolean)
      .map((line) => (JSON.parse(line) as { id: string }).id);
    expect(results.length).toBe(cases);
    expect(new Set(results).size).toBe(cases);
    printFigures('redis-full-eval', {
      jobs: cases,
      completed: new Set(results).size,
      lost: cases - new Set(results).size,
      orphans: 0,
      maxBytes,
      peakBytesAfterRefusal: peak,
      enqueuedBeforeRefusal: inRedis.size,
      refusedBy: /out of memory/.test(first.stderr) ? 'redis-oom' : 'high-water',
      seconds: (performance.now() - started) / 1000,
    });
  }, 240_000);
});
