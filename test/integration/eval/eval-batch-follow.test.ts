import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, expect, it } from 'vitest';

import type { CaseResult } from '../../../src/producer/eval/case-result.ts';
import type { RunSummary } from '../../../src/producer/eval/summarize.ts';
import type { Redis } from '../../../src/shared/redis.ts';
import { AskqWorker, workerOptionsFromConfig } from '../../../src/worker/askq-worker.ts';
import { testConfig } from '../../support/config.ts';
import { type FakeOpenAI, startFakeOpenAI } from '../../support/fake-openai-server.ts';
import { type OtlpSink, startOtlpSink } from '../../support/otlp-sink.ts';
import { deletePrefix, testConnection, testRedisEnv, uniquePrefix } from '../../support/redis.ts';
import { runCli, spawnCli, stderrLine } from '../../support/run-cli.ts';

const prefix = uniquePrefix('eval-batch-follow');
let tmp: string;
let fake: FakeOpenAI;
let redis: Redis;
let sink: OtlpSink;
let env: Record<string, string>;

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'askq-eval-batch-follow-'));
  redis = testConnection();
  fake = await startFakeOpenAI();
  sink = await startOtlpSink();
  env = {
    ...testRedisEnv(),
    ASKQ_PREFIX: prefix,
    ASKQ_LOCAL_STORE_DIR: join(tmp, 'store'),
    ASKQ_LLM: 'openai',
    ASKQ_EMBEDDINGS: 'local',
    OPENAI_API_KEY: 'sk-test-batch-follow',
    OPENAI_BASE_URL: fake.url,
    ASKQ_BATCH_WINDOW_MS: '100',
    ASKQ_BATCH_POLL_MS: '50',
    ASKQ_BATCH_POLL_MAX_MS: '200',
    OTEL_EXPORTER_OTLP_ENDPOINT: sink.url,
    OTEL_BSP_SCHEDULE_DELAY: '100',
  };
});

afterAll(async () => {
  await fake.close();
  await sink.close();
  await deletePrefix(redis, prefix);
  await redis.quit();
  await rm(tmp, { recursive: true, force: true });
});

/**
 * A batch-lane run of `count` questions enqueued with --detach (its batch kept open for an
 * hour), and a worker to submit it; the caller closes the worker.
 */
async function detachedBatchRun(
  name: string,
  count: number,
): Promise<{ dir: string; runId: string; worker: AskqWorker }> {
  fake.batches.completionDelayMs = 60 * 60 * 1000;
  const dir = join(tmp, name);
  const detached = await runCli(
    ['eval', 'run', await questions(name, count), '--batch', '--detach', '--out', dir, '--json'],
    env,
  );
  expect(detached.code, detached.stderr).toBe(0);
  const { runId } = JSON.parse(detached.stdout) as { runId: string };
  const worker = await AskqWorker.start({
    ...workerOptionsFromConfig(testConfig(env)),
    concurrency: 2,
  });
  return { dir, runId, worker };
}

async function questions(name: string, count: number): Promise<string> {
  const file = join(tmp, `${name}.jsonl`);
  await writeFile(
    file,
    Array.from({ length: count }, (_, i) =>
      JSON.stringify({ id: `${name}-${i}`, question: `${name} question ${i}?` }),
    ).join('\n'),
  );
  return file;
}

async function results(dir: string): Promise<CaseResult[]> {
  const text = await readFile(join(dir, 'results.jsonl'), 'utf8');
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as CaseResult);
}

it('traces where each answer came from: batch submit and collect spans linked to the cases', async () => {
  fake.batches.completionDelayMs = 0;
  const dir = join(tmp, 'traced');
  const run = await runCli(
    ['eval', 'run', await questions('traced', 3), '--batch', '--with-worker', '--out', dir],
    env,
  );
  expect(run.code, run.stderr).toBe(0);
  const rows = await results(dir);
  const batchId = rows[0]!.batchId!;
  const traceIds = new Set(rows.map((r) => r.traceId));
  expect(traceIds.size).toBe(3);
  const spans = await sink.waitFor((all) => {
    const names = all.filter((s) => s.attributes['askq.batch.id'] === batchId).map((s) => s.name);
    return (
      names.includes('batch submit') &&
      names.includes('batch collect') &&
      names.filter((n) => n.startsWith('chat ')).length === 3
    );
  });
  for (const name of ['batch submit', 'batch collect']) {
    const span = spans.find((s) => s.name === name && s.attributes['askq.batch.id'] === batchId)!;
    expect(span.attributes).toMatchObject({
      'gen_ai.operation.name': 'chat',
      'gen_ai.request.model': 'gpt-4o-mini',
      'askq.batch.requests': 3,
    });
    expect(span.links).toHaveLength(3);
  }
  // Each case's own trace has the chat call, answered by the batch and linked to the visit
  // that wrote the request, which the batch's submission links to.
  const submitted = spans.find((s) => s.name === 'batch submit')!;
  for (const traceId of traceIds) {
    const chat = spans.find((s) => s.traceId === traceId && s.name.startsWith('chat '));
    expect(submitted.links).toContainEqual(chat?.links[0]);
    expect(chat?.attributes).toMatchObject({
      'askq.batch.id': batchId,
      'gen_ai.provider.name': 'openai',
    });
  }
}, 60_000);

it('follows a detached run with eval status, and eval cancel cancels its open batch', async () => {
  const { dir, worker } = await detachedBatchRun('cancelled', 3);
  try {
    // eval status follows the run: it shows the batch in progress, with its counts and age.
    const status = spawnCli(['eval', 'status', dir, '--follow', '--json'], env);
    let stdout = '';
    let stderr = '';
    status.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    const exited = new Promise<number | null>((resolve) => status.on('close', resolve));
    await new Promise<void>((resolve) => {
      status.stderr?.on('data', (d: Buffer) => {
        stderr += d.toString();
        if (
          /batch 0 batch_\d+ in_progress · 0\/3 done, 0 failed · submitted \d+s ago/.test(stderr)
        ) {
          resolve();
        }
      });
    });
    // eval status without --follow answers at once, the batches included.
    const atOnce = await runCli(['eval', 'status', dir], env);
    expect(atOnce.code, atOnce.stderr).toBe(0);
    expect(atOnce.stdout).toMatch(/running/);
    expect(atOnce.stdout).toMatch(
      /batch 0 batch_\d+ in_progress · 0\/3 done, 0 failed · submitted \d+s ago/,
    );
    const cancel = await runCli(['eval', 'cancel', dir], env);
    expect(cancel.code, cancel.stderr).toBe(0);
    expect(cancel.stdout).toMatch(/batch 0 batch_\d+: cancelling/);
    expect(fake.calls.batchCancel).toBe(1);

    // A case sleeping until its batch is collected is the lane's to end ("run cancelled"); one
    // the worker had not yet put to sleep (waiting, or active between its checks; more likely
    // on a busy machine) is removed, or aborted (unless it settles first), for a resume.
    const [, removed, aborting] = /cancelled (\d+) waiting and (\d+) active/.exec(cancel.stdout)!;

    // eval status --follow ends either way: it does not wait for a case that was removed.
    expect(await exited, stderr).toBe(0);
    expect(stderr).toMatch(/batch 0 batch_\d+ cancelled/);
    const followed = { stdout };
    const summary = JSON.parse(followed.stdout) as RunSummary;
    const written = await results(dir);
    expect(written.length).toBeLessThanOrEqual(3 - Number(removed));
    expect(written.length).toBeGreaterThanOrEqual(3 - Number(removed) - Number(aborting));
    expect(summary).toMatchObject({ completed: written.length, errored: written.length });
    for (const r of written) expect(r.error).toContain('run cancelled');
  } finally {
    await worker.close(5000);
  }
}, 60_000);

it('eval cancel reports the cancelled batch when the run ends while it cancels', async () => {
  const { dir, runId, worker } = await detachedBatchRun('ended', 2);
  try {
    const status = spawnCli(['eval', 'status', dir, '--follow'], env);
    const exited = new Promise<number | null>((resolve) => status.on('close', resolve));
    await stderrLine(status, /batch 0 batch_\d+ in_progress/);
    // While the cancel waits on the Batch API, the run ends: the lane ends its sleeping cases
    // and the follower removes the run's parent job (as it does once results are written).
    const runs = `${prefix}:eval-runs`;
    fake.batches.beforeCancel = async () => {
      await redis.del(`${runs}:run-${runId}`);
    };
    const cancel = await runCli(['eval', 'cancel', dir], env);
    expect(cancel.code, cancel.stderr).toBe(0);
    expect(cancel.stdout).toMatch(/cancelled 0 waiting and 0 active cases/);
    expect(cancel.stdout).toMatch(/batch 0 batch_\d+: cancelling/);
    status.kill('SIGTERM');
    await exited;
  } finally {
    fake.batches.beforeCancel = undefined;
    await worker.close(5000);
  }
}, 60_000);
