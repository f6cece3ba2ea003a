import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';

import type { CaseResult } from '../../../src/producer/eval/case-result.ts';
import type { RunManifest } from '../../../src/producer/eval/run-store.ts';
import type { RunSummary } from '../../../src/producer/eval/summarize.ts';
import { EVAL_BATCH_QUEUE } from '../../../src/shared/batch/batch-lane.ts';
import { readJobState } from '../../../src/shared/job-state.ts';
import type { Redis } from '../../../src/shared/redis.ts';
import type { BatchInputLine } from '../../support/fake-openai-batches.ts';
import { type FakeOpenAI, startFakeOpenAI } from '../../support/fake-openai-server.ts';
import { deletePrefix, testConnection, testRedisEnv, uniquePrefix } from '../../support/redis.ts';
import { runCli } from '../../support/run-cli.ts';

const MAX_REQUESTS = 4;
const prefix = uniquePrefix('eval-batch');
let tmp: string;
let fake: FakeOpenAI;
let redis: Redis;

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'askq-eval-batch-'));
  redis = testConnection();
  fake = await startFakeOpenAI({ batchCompletionDelayMs: 150 });
});

afterAll(async () => {
  await fake.close();
  await deletePrefix(redis, prefix);
  await redis.quit();
  await rm(tmp, { recursive: true, force: true });
});

beforeEach(() => {
  fake.batches.lineStatus = () => undefined;
  fake.batches.expire = () => false;
  fake.batches.validationError = () => undefined;
});

function env(extra: Record<string, string> = {}): Record<string, string> {
  return {
    ...testRedisEnv(),
    ASKQ_PREFIX: prefix,
    ASKQ_LOCAL_STORE_DIR: join(tmp, 'store'),
    ASKQ_LLM: 'openai',
    ASKQ_EMBEDDINGS: 'local',
    OPENAI_API_KEY: 'sk-test-batch-lane',
    OPENAI_BASE_URL: fake.url,
    ASKQ_BATCH_MAX_REQUESTS: String(MAX_REQUESTS),
    ASKQ_BATCH_WINDOW_MS: '100',
    ASKQ_BATCH_GATHER_MAX_MS: '1000',
    ASKQ_BATCH_POLL_MS: '50',
    ASKQ_BATCH_POLL_MAX_MS: '200',
    ...extra,
  };
}

/** The question a batch line asks (the prompt ends with `Question: <q>`). */
function questionOf(line: BatchInputLine): string {
  const body = line.body as { messages: { role: string; content: string }[] };
  return /Question: (.*)$/s.exec(body.messages.at(-1)?.content ?? '')?.[1]?.trim() ?? '';
}

async function writeQuestions(name: string, questions: string[]): Promise<string> {
  const file = join(tmp, name);
  await writeFile(
    file,
    questions
      .map((q, i) => JSON.stringify({ id: `c${i}`, question: q, expected: 'know' }))
      .join('\n'),
  );
  return file;
}

async function results(dir: string): Promise<Map<string, CaseResult>> {
  const text = await readFile(join(dir, 'results.jsonl'), 'utf8');
  const rows = text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as CaseResult);
  return new Map(rows.map((r) => [r.question, r]));
}

it('answers a question file through batches: per-line errors, retries and an expired batch', async () => {
  const plain = Array.from({ length: 8 }, (_, i) => `plain question ${i}?`);
  const questions = [...plain, 'unauthorized line?', 'rate limited line?', 'server error line?'];
  const file = await writeQuestions('questions.jsonl', questions);
  // 401 always; 429 and 500 only the first time a line is seen; the first batch expires.
  fake.batches.lineStatus = (line, seen) => {
    const q = questionOf(line);
    if (q.startsWith('unauthorized')) return 401;
    if (q.startsWith('rate limited') && seen === 1) return 429;
    if (q.startsWith('server error') && seen === 1) return 500;
    return undefined;
  };
  fake.batches.expire = (batch) => batch === fake.batches.created[0];
  const chatBefore = fake.calls.chat;
  const createdBefore = fake.batches.created.length;
  const dir = join(tmp, 'run-batch');

  const run = await runCli(
    ['eval', 'run', file, '--batch', '--with-worker', '--out', dir, '--json'],
    env(),
  );
  expect(run.code, run.stderr).toBe(0);
  const summary = JSON.parse(run.stdout) as RunSummary;

  // No online chat call answered anything: every answer came from a batch.
  expect(fake.calls.chat).toBe(chatBefore);
  const created = fake.batches.created.slice(createdBefore);
  expect(created.length).toBeGreaterThanOrEqual(Math.ceil(questions.length / MAX_REQUESTS));
  for (const batch of created) {
    expect(batch.lines.length).toBeLessThanOrEqual(MAX_REQUESTS);
    expect(batch.metadata.askq_run).toBe(summary.runId);
    // The same body the online path sends.
    expect(batch.lines[0]).toMatchObject({ method: 'POST', url: '/v1/chat/completions' });
    expect(batch.lines[0]!.body).toMatchObject({ model: 'gpt-4o-mini', temperature: 0 });
  }
  expect(created[0]!.status).toBe('expired');

  const byQuestion = await results(dir);
  expect(byQuestion.size).toBe(questions.length);
  const denied = byQuestion.get('unauthorized line?')!;
  expect(denied.status).toBe('error');
  expect(denied.error).toContain('401 Incorrect API key provided');
  for (const q of [...plain, 'rate limited line?', 'server error line?']) {
    const r = byQuestion.get(q)!;
    expect(r.status, `${q}: ${r.error ?? ''}`).not.toBe('error');
    expect(r.batchId).toMatch(/^batch_/);
  }
  // The 429 and 500 lines were sent again in a later batch, which answered them.
  const sentIn = (q: string) =>
    created.filter((b) => b.lines.some((l) => questionOf(l) === q)).length;
  expect(sentIn('rate limited line?')).toBeGreaterThanOrEqual(2);
  expect(sentIn('server error line?')).toBeGreaterThanOrEqual(2);
  // The expired batch's unanswered cases were answered by a later batch.
  const expiredQuestions = created[0]!.lines.slice(Math.ceil(created[0]!.lines.length / 2));
  for (const line of expiredQuestions) {
    expect(byQuestion.get(questionOf(line))!.batchId).not.toBe(created[0]!.id);
  }

  expect(summary).toMatchObject({ completed: questions.length, errored: 1 });
  expect(summary.batch?.answered).toBe(questions.length - 1);
  const manifest = JSON.parse(await readFile(join(dir, 'run.json'), 'utf8')) as RunManifest;
  expect(manifest.settings.mode).toBe('batch');
  expect(manifest.batches?.map((b) => b.batchId)).toEqual(created.map((b) => b.id));
  expect(await readFile(join(dir, 'report.html'), 'utf8')).toContain('Answered by batch');
  // Each case slept with its retrieval checkpoint (whole chunks); an answered one keeps none.
  const finished = await redis.zrange(`${prefix}:${EVAL_BATCH_QUEUE}:completed`, '0', '-1');
  const cases: unknown[] = [];
  for (const id of finished) {
    const data = JSON.parse((await redis.hget(`${prefix}:${EVAL_BATCH_QUEUE}:${id}`, 'data'))!);
    if (typeof data.question === 'string') cases.push(data);
  }
  expect(cases).toHaveLength(questions.length - 1);
  for (const data of cases) expect(readJobState(data).retrieval).toBeUndefined();
}, 60_000);

it('answers an expired batch online with --batch-fallback online', async () => {
  const questions = Array.from({ length: 4 }, (_, i) => `fallback question ${i}?`);
  const file = await writeQuestions('fallback.jsonl', questions);
  fake.batches.expire = () => true;
  const chatBefore = fake.calls.chat;
  const createdBefore = fake.batches.created.length;
  const dir = join(tmp, 'run-fallback');
  const run = await runCli(
    ['eval', 'run', file, '--batch', '--batch-fallback', 'online', '--with-worker', '--out', dir],
    env(),
  );
  expect(run.code, run.stderr).toBe(0);
  const created = fake.batches.created.slice(createdBefore);
  expect(created).toHaveLength(1);
  const byQuestion = await results(dir);
  const unanswered = created[0]!.lines.slice(2).map(questionOf);
  expect(fake.calls.chat - chatBefore).toBe(unanswered.length);
  for (const q of questions) expect(byQuestion.get(q)?.status).not.toBe('error');
  for (const q of unanswered) expect(byQuestion.get(q)?.batchId).toBeUndefined();
  // Online, the same request went out as in the batch line: one body for both lanes.
  for (const line of created[0]!.lines.slice(2)) {
    const online = fake.requests.chat.find(
      (r) => questionOf({ ...line, body: r.body }) === questionOf(line),
    );
    expect(online?.body).toEqual(line.body);
  }
}, 60_000);

it("ends every case of a batch that failed validation with the batch's reason", async () => {
  const questions = ['refused question 1?', 'refused question 2?'];
  const file = await writeQuestions('invalid.jsonl', questions);
  fake.batches.validationError = () => 'Model gpt-4o-mini is not available for batches.';
  const dir = join(tmp, 'run-invalid');
  const run = await runCli(['eval', 'run', file, '--batch', '--with-worker', '--out', dir], env());
  expect(run.code, run.stderr).toBe(0);
  for (const q of questions) {
    expect((await results(dir)).get(q)).toMatchObject({
      status: 'error',
      error: 'batch failed: Model gpt-4o-mini is not available for batches.',
    });
  }
}, 60_000);

it('refuses --batch at once where batches cannot run, enqueueing nothing', async () => {
  const file = await writeQuestions('refused.jsonl', ['a question?']);
  const local = await runCli(['eval', 'run', file, '--batch'], {
    ...testRedisEnv(),
    ASKQ_PREFIX: `${prefix}-refused`,
    ASKQ_LOCAL_STORE_DIR: join(tmp, 'store'),
  });
  expect(local.code).toBe(2);
  expect(local.stderr).toContain('--batch needs an OpenAI-compatible chat model');

  const noBatches = await startFakeOpenAI({ batchApi: false });
  try {
    // ASKQ_EVAL_MODE=batch asks for the lane as --batch does.
    const remote = await runCli(
      ['eval', 'run', file],
      env({
        OPENAI_BASE_URL: noBatches.url,
        ASKQ_PREFIX: `${prefix}-refused`,
        ASKQ_EVAL_MODE: 'batch',
      }),
    );
    expect(remote.code).toBe(2);
    expect(remote.stderr).toContain('the server has no Batch API');
  } finally {
    await noBatches.close();
  }
  expect(await redis.keys(`${prefix}-refused:*`)).toEqual([]);
}, 30_000);
