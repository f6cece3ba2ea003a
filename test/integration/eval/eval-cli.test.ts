import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { CaseResult } from '../../../src/producer/eval/case-result.ts';
import type { RunSummary } from '../../../src/producer/eval/summarize.ts';
import { ingest } from '../../../src/producer/ingest.ts';
import type { Redis } from '../../../src/shared/redis.ts';
import { AskqWorker, workerOptionsFromConfig } from '../../../src/worker/askq-worker.ts';
import { testConfig } from '../../support/config.ts';
import {
  deletePrefix,
  scanKeys,
  testConnection,
  testRedisEnv,
  testRedisSettings,
  uniquePrefix,
} from '../../support/redis.ts';
import { runCli } from '../../support/run-cli.ts';

const prefix = uniquePrefix('eval');
let tmp: string;
let env: Record<string, string>;
let redis: Redis;

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'askq-eval-cli-'));
  env = {
    ...testRedisEnv(),
    ASKQ_PREFIX: prefix,
    ASKQ_LOCAL_STORE_DIR: join(tmp, 'store'),
  };
  redis = testConnection();
  const worker = await AskqWorker.start(workerOptionsFromConfig(testConfig(env)));
  try {
    const summary = await ingest(['examples/corpus'], { redis: testRedisSettings(), prefix });
    expect(summary.failed).toEqual([]);
  } finally {
    await worker.close(5000);
  }
}, 60_000);

afterAll(async () => {
  await deletePrefix(redis, prefix);
  await redis.quit();
  await rm(tmp, { recursive: true, force: true });
});

async function readJsonl(path: string): Promise<CaseResult[]> {
  const text = await readFile(path, 'utf8');
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as CaseResult);
}

describe('askq eval', () => {
  const dirA = () => join(tmp, 'run-a');

  it('runs the example JSONL end to end on the embedded default and writes every output', async () => {
    const r = await runCli(
      ['eval', 'run', 'examples/questions.jsonl', '--with-worker', '--out', dirA(), '--json'],
      env,
    );
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.stdout) as RunSummary;
    expect(summary).toMatchObject({ valid: 14, invalid: 0, completed: 14, errored: 0 });
    expect(summary.passRate).toBeGreaterThan(0.7);
    expect(Object.keys(summary.metrics).sort()).toEqual(['contains', 'hit@k', 'mrr']);
    const results = await readJsonl(join(dirA(), 'results.jsonl'));
    expect(new Set(results.map((x) => x.id)).size).toBe(14);
    expect(results.find((x) => x.id === 'q-en-backoff')).toMatchObject({
      status: 'passed',
      scores: { contains: 1, 'hit@k': 1 },
      attempts: 1,
    });
    const csv = await readFile(join(dirA(), 'results.csv'), 'utf8');
    expect(csv.split('\n')[0]).toContain('id,status,question,expected,answer,score:contains');
    const html = await readFile(join(dirA(), 'report.html'), 'utf8');
    expect(html).toContain(summary.runId);
    expect(html).not.toMatch(/<(script|link|img)[^>]+(src|href)=["']https?:/);
    const manifest = JSON.parse(await readFile(join(dirA(), 'run.json'), 'utf8'));
    expect(manifest).toMatchObject({
      runId: summary.runId,
      enqueued: { valid: 14, complete: true },
    });
    // The run's parent job is gone once results are on disk.
    expect(await redis.exists(`${prefix}:eval-runs:run-${summary.runId}`)).toBe(0);
  });

  it('reports invalid rows with line and id, goes on, and gates on --fail-under', async () => {
    const file = join(tmp, 'mixed.jsonl');
    await writeFile(
      file,
      [
        '{"id":"ok","question":"How long does BullMQ wait between retries with exponential backoff?","expected":"1, 2, 4 and 8 seconds"}',
        '{"id":"empty","question":""}',
        'not json',
        '{"id":"never","question":"What is LCEL?","expected":"a string no answer contains 42"}',
      ].join('\n'),
    );
    const r = await runCli(
      [
        'eval',
        'run',
        file,
        '--with-worker',
        '--out',
        join(tmp, 'run-mixed'),
        '--fail-under',
        '90%',
      ],
      env,
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      'invalid row at line 2 (id empty): question: question must not be empty',
    );
    expect(r.stderr).toMatch(/invalid row at line 3: unparseable JSON/);
    expect(r.stderr).toContain('is below --fail-under 90.0%');
    expect(r.stdout).toContain('1 passed, 1 failed, 0 errors of 2 cases (2 invalid rows)');

    const strict = await runCli(
      ['eval', 'run', file, '--strict', '--out', join(tmp, 'run-strict')],
      env,
    );
    expect(strict.code).toBe(2);
    expect(strict.stderr).toContain('line 2 (id empty)');
  });

  it('enqueues a detached run and follows it with status', async () => {
    const dir = join(tmp, 'run-detached');
    const run = await runCli(
      ['eval', 'run', 'examples/questions.csv', '--detach', '--out', dir],
      env,
    );
    expect(run.code).toBe(0);
    const runId = /run (\S+) enqueued/.exec(run.stdout)?.[1];
    expect(runId).toBeDefined();
    expect(await readFile(join(dir, 'results.jsonl'), 'utf8')).toBe('');
    // Nothing answers until a worker comes: the 14 cases wait in Redis, below live traffic.
    const waiting = await redis.zcard(`${prefix}:questions:prioritized`);
    expect(waiting).toBe(14);

    // Status by run id finds the --out folder through Redis, answers at once, enqueues nothing.
    const keysBefore = await scanKeys(redis, `${prefix}:questions:*`);
    const status = await runCli(['eval', 'status', runId!, '--json'], env);
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({
      runId,
      dir,
      state: 'running',
      cases: 14,
      passed: 0,
      pending: 14,
    });
    expect((await scanKeys(redis, `${prefix}:questions:*`)).sort()).toEqual(keysBefore.sort());
    expect(await redis.zcard(`${prefix}:questions:prioritized`)).toBe(14);

    const followed = await runCli(
      ['eval', 'status', runId!, '--follow', '--with-worker', '--json'],
      env,
    );
    expect(followed.code).toBe(0);
    const summary = JSON.parse(followed.stdout) as RunSummary;
    expect(summary).toMatchObject({ runId, completed: 14, valid: 14 });
    expect(followed.stderr).toMatch(/eval: 14\/14/);
    expect(await readJsonl(join(dir, 'results.jsonl'))).toHaveLength(14);

    const finished = await runCli(['eval', 'status', runId!], env);
    expect(finished.code).toBe(0);
    expect(finished.stdout).toContain(`run ${runId}: finished · 14/14 cases have results`);
  });

  it('compares two runs and fails on a regression', async () => {
    const same = await runCli(
      ['eval', 'compare', dirA(), join(tmp, 'run-detached'), '--fail-on-regression'],
      env,
    );
    expect(same.code).toBe(0);
    expect(same.stdout).toContain(
      'flips        0 regressed, 0 improved (McNemar exact p = 1.0000)',
    );
    expect(same.stdout).toContain('no regression beyond noise (α 0.05)');

    const worse = join(tmp, 'run-worse');
    await mkdir(worse, { recursive: true });
    await copyFile(join(dirA(), 'run.json'), join(worse, 'run.json'));
    const results = await readJsonl(join(dirA(), 'results.jsonl'));
    results[0] = {
      ...results[0]!,
      status: 'failed',
      scores: { ...results[0]!.scores, contains: 0 },
    };
    await writeFile(join(worse, 'results.jsonl'), results.map((x) => JSON.stringify(x)).join('\n'));
    const html = join(tmp, 'compare.html');
    const cmp = await runCli(
      ['eval', 'compare', dirA(), worse, '--fail-on-regression', '--html', html],
      env,
    );
    // One flip in 14 cases is within noise: reported, not a regression.
    expect(cmp.code).toBe(0);
    expect(cmp.stdout).toContain(`- ${results[0]!.id} (passed → failed)`);
    expect(cmp.stdout).toContain('flips        1 regressed, 0 improved (McNemar exact p = 1.0000)');
    expect(cmp.stdout).toMatch(
      /contains +mean 1\.000 → 0\.9\d\d \(-0\.0\d\d, 95% CI -0\.\d+ … \+0\.000, n 14\)/,
    );
    expect(await readFile(html, 'utf8')).toContain('Regressed (1)');
    // Unless it is larger than the drop allowed.
    const strict = await runCli(
      ['eval', 'compare', dirA(), worse, '--fail-on-regression', '--max-drop', '5%'],
      env,
    );
    expect(strict.code).toBe(1);
    expect(strict.stdout).toContain('REGRESSION: pass rate dropped 7.1 pt over 14 cases');
    expect(strict.stdout).toMatch(/REGRESSION: contains mean dropped 0\.071 over 14 cases/);
  });

  it('rebuilds a report and rejects contradictory flags with exit code 2', async () => {
    const report = await runCli(['eval', 'report', dirA()], env);
    expect(report.code).toBe(0);
    expect(report.stdout.trim()).toBe(join(dirA(), 'report.html'));

    const bad = await runCli(
      ['eval', 'run', 'examples/questions.jsonl', '--concurrency', '5'],
      env,
    );
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--concurrency needs --with-worker');
    const none = await runCli(['eval', 'status', join(tmp, 'nope')], env);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('no run');
  });
});
