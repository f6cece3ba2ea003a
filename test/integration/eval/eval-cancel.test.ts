import type { ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { RunSummary } from '../../../src/producer/eval/summarize.ts';
import { QUESTIONS_QUEUE } from '../../../src/shared/contracts.ts';
import type { Redis } from '../../../src/shared/redis.ts';
import { type FakeOpenAI, startFakeOpenAI } from '../../support/fake-openai-server.ts';
import { deletePrefix, testConnection, testRedisEnv, uniquePrefix } from '../../support/redis.ts';
import { runCli, spawnCli } from '../../support/run-cli.ts';

const CASES = 20;
const CONCURRENCY = 2;
const prefix = uniquePrefix('eval-cancel');
let tmp: string;
let fake: FakeOpenAI;
let redis: Redis;
let queue: Queue;
let worker: ChildProcess;
let env: Record<string, string>;
let file: string;
/** While true, every chat request hangs until its client aborts it. */
let hang = true;

/**
 * `askq eval cancel` and Ctrl-C on `askq eval run`, through the real CLI, with the cases
 * active in a worker of another process (`askq worker`) whose chat calls hang at the fake.
 */
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'askq-eval-cancel-'));
  redis = testConnection();
  queue = new Queue(QUESTIONS_QUEUE, { connection: redis, prefix });
  fake = await startFakeOpenAI({ decide: () => (hang ? { hang: true } : undefined) });
  env = {
    ...testRedisEnv(),
    ASKQ_PREFIX: prefix,
    ASKQ_LOCAL_STORE_DIR: join(tmp, 'store'),
    ASKQ_LLM: 'openai',
    ASKQ_EMBEDDINGS: 'local',
    OPENAI_API_KEY: 'sk-test-cancel',
    OPENAI_BASE_URL: fake.url,
    // Jobs left hanging by a failed test do not hold the worker's shutdown for long.
    ASKQ_SHUTDOWN_GRACE_MS: '1000',
  };
  file = join(tmp, 'questions.jsonl');
  await writeFile(
    file,
    Array.from({ length: CASES }, (_, i) =>
      JSON.stringify({ id: `case-${i}`, question: `question number ${i}?`, expected: 'answer' }),
    ).join('\n'),
  );
  worker = spawnCli(['worker', '--concurrency', String(CONCURRENCY)], env);
  await new Promise<void>((resolve, reject) => {
    let out = '';
    worker.once('exit', (code) => reject(new Error(`worker exited with ${code}: ${out}`)));
    worker.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('worker started')) resolve();
    });
  });
}, 60_000);

afterAll(async () => {
  const exited = new Promise((resolve) => worker.once('exit', resolve));
  worker.kill('SIGTERM');
  await exited;
  await fake.close();
  await queue.close();
  await deletePrefix(redis, prefix);
  await redis.quit();
  await rm(tmp, { recursive: true, force: true });
});

/** Resolves once `n` chat requests have arrived at the fake (so far, in total). */
async function chatRequests(n: number): Promise<void> {
  while (fake.calls.chat < n) await fake.nextRequest('chat');
}

/** Resolves once `n` client aborts have happened at the fake (so far, in total). */
async function clientAborts(n: number): Promise<void> {
  while (fake.clientAborts < n) await fake.nextClientAbort();
}

/** The states of a run's case jobs, by state. */
async function caseStates(runId: string): Promise<Record<string, number>> {
  const states: Record<string, number> = {};
  for (const job of await queue.getJobs()) {
    if (!job.id?.startsWith(`ev-${runId}-`)) continue;
    const state = await job.getState();
    const key = state === 'failed' ? `failed:${job.failedReason}` : state;
    states[key] = (states[key] ?? 0) + 1;
  }
  return states;
}

describe('cancelling evaluation runs', () => {
  it('askq eval cancel removes waiting cases and aborts active ones on another machine; a resume runs them', async () => {
    hang = true;
    const dir = join(tmp, 'detached');
    // Counted before the run starts: the worker may call the fake before the CLI returns.
    const chatsBefore = fake.calls.chat;
    const abortsBefore = fake.clientAborts;
    const started = await runCli(['eval', 'run', file, '--detach', '--out', dir, '--json'], env);
    expect(started.code).toBe(0);
    const { runId } = JSON.parse(started.stdout) as { runId: string };
    await chatRequests(chatsBefore + CONCURRENCY);

    const cancelled = await runCli(['eval', 'cancel', runId, '--json'], env);
    expect(cancelled.stderr).toBe('');
    expect(cancelled.code).toBe(0);
    expect(JSON.parse(cancelled.stdout)).toEqual({
      runId,
      removed: CASES - CONCURRENCY,
      aborting: CONCURRENCY,
    });
    // The worker process aborted its provider calls; nothing was retried.
    await clientAborts(abortsBefore + CONCURRENCY);
    await expect.poll(() => caseStates(runId)).toEqual({ 'failed:cancelled': CONCURRENCY });
    expect(fake.calls.chat).toBe(chatsBefore + CONCURRENCY);

    // Cancelled cases have no result: a resume runs every one of them.
    hang = false;
    const resumed = await runCli(['eval', 'run', '--resume', dir, '--json'], env);
    expect(resumed.code).toBe(0);
    expect(JSON.parse(resumed.stdout) as RunSummary).toMatchObject({
      completed: CASES,
      errored: 0,
    });
  }, 60_000);

  it('Ctrl-C on a foreground askq eval run cancels its cases, says how to resume, exits 130', async () => {
    hang = true;
    const dir = join(tmp, 'foreground');
    const chatsBefore = fake.calls.chat;
    const abortsBefore = fake.clientAborts;
    const cli = spawnCli(['eval', 'run', file, '--out', dir], env);
    let stderr = '';
    cli.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => cli.on('exit', resolve));
    await chatRequests(chatsBefore + CONCURRENCY);

    cli.kill('SIGINT');
    expect(await exited).toBe(130);
    const runId = JSON.parse(await readFile(join(dir, 'run.json'), 'utf8')).runId as string;
    expect(stderr).toContain(`resume with: askq eval run --resume ${runId}`);
    expect(stderr).toMatch(
      new RegExp(`cancelled ${CASES - CONCURRENCY} waiting and ${CONCURRENCY} active`),
    );
    await clientAborts(abortsBefore + CONCURRENCY);
    await expect.poll(() => caseStates(runId)).toEqual({ 'failed:cancelled': CONCURRENCY });
  }, 60_000);
});
