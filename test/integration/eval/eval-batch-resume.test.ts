import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, expect, it } from 'vitest';

import type { CaseResult } from '../../../src/producer/eval/case-result.ts';
import type { RunManifest } from '../../../src/producer/eval/run-store.ts';
import type { RunSummary } from '../../../src/producer/eval/summarize.ts';
import type { Redis } from '../../../src/shared/redis.ts';
import { type FakeOpenAI, startFakeOpenAI } from '../../support/fake-openai-server.ts';
import { deletePrefix, testConnection, testRedisEnv, uniquePrefix } from '../../support/redis.ts';
import { runCli, spawnCli } from '../../support/run-cli.ts';

const CASES = 6;
const prefix = uniquePrefix('eval-batch-resume');
let tmp: string;
let fake: FakeOpenAI;
let redis: Redis;

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'askq-eval-batch-resume-'));
  redis = testConnection();
  fake = await startFakeOpenAI();
});

afterAll(async () => {
  await fake.close();
  await deletePrefix(redis, prefix);
  await redis.quit();
  await rm(tmp, { recursive: true, force: true });
});

it('a CLI killed as its batch is created resumes without creating a second batch', async () => {
  const env = {
    ...testRedisEnv(),
    ASKQ_PREFIX: prefix,
    ASKQ_LOCAL_STORE_DIR: join(tmp, 'store'),
    ASKQ_LLM: 'openai',
    ASKQ_EMBEDDINGS: 'local',
    OPENAI_API_KEY: 'sk-test-batch-resume',
    OPENAI_BASE_URL: fake.url,
    ASKQ_BATCH_WINDOW_MS: '100',
    ASKQ_BATCH_POLL_MS: '50',
    ASKQ_BATCH_POLL_MAX_MS: '200',
    // The killed worker's submit job comes back quickly through stalled-job recovery.
    ASKQ_LOCK_DURATION_MS: '1000',
    ASKQ_STALLED_INTERVAL_MS: '300',
  };
  const file = join(tmp, 'questions.jsonl');
  await writeFile(
    file,
    Array.from({ length: CASES }, (_, i) =>
      JSON.stringify({ id: `case-${i}`, question: `question ${i}?` }),
    ).join('\n'),
  );
  const dir = join(tmp, 'run');
  // The creation answers late: the CLI dies after the server made the batch, before the
  // worker could save its id. Only the batch's metadata can find it again.
  fake.batches.createResponseDelayMs = 2000;
  fake.batches.completionDelayMs = 60 * 60 * 1000;

  const cli = spawnCli(['eval', 'run', file, '--batch', '--with-worker', '--out', dir], env);
  const exited = new Promise((resolve) => cli.on('exit', resolve));
  await fake.nextRequest('batchCreate');
  cli.kill('SIGKILL');
  await exited;
  const manifest = JSON.parse(await readFile(join(dir, 'run.json'), 'utf8')) as RunManifest;
  expect(manifest.batches ?? []).toEqual([]);
  expect(fake.batches.created).toHaveLength(1);
  fake.batches.createResponseDelayMs = 0;
  // The worker never learnt the batch's id: Redis has the chunk, sealed and uploaded, no batch.
  const saved = await redis.hget(`${prefix}:eval-batch-lane:${manifest.runId}:batches`, '0');
  expect(JSON.parse(saved ?? '{}')).toMatchObject({
    chunk: 0,
    requests: CASES,
    status: 'uploaded',
  });
  expect(JSON.parse(saved ?? '{}')).not.toHaveProperty('batchId');

  // The batch finishes while nobody watches; the run is resumed.
  fake.batches.completionDelayMs = 0;
  const resumed = await runCli(['eval', 'run', '--resume', dir, '--with-worker', '--json'], {
    ...env,
    ASKQ_EVAL_MODE: 'online',
  });
  expect(resumed.code, resumed.stderr).toBe(0);
  const summary = JSON.parse(resumed.stdout) as RunSummary;
  expect(summary).toMatchObject({ completed: CASES, errored: 0 });

  expect(fake.calls.batchCreate).toBe(1);
  expect(fake.batches.created).toHaveLength(1);
  expect(fake.calls.chat).toBe(0);
  const rows = (await readFile(join(dir, 'results.jsonl'), 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as CaseResult);
  expect(new Set(rows.map((r) => r.id)).size).toBe(CASES);
  for (const r of rows) expect(r.batchId).toBe(fake.batches.created[0]!.id);
}, 60_000);
