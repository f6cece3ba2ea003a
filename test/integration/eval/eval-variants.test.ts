import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { CaseResult } from '../../../src/producer/eval/case-result.ts';
import type { RunManifest } from '../../../src/producer/eval/run-store.ts';
import type { RunSummary } from '../../../src/producer/eval/summarize.ts';
import { ingest } from '../../../src/producer/ingest.ts';
import { freePort } from '../../../src/shared/local-redis.ts';
import type { Redis } from '../../../src/shared/redis.ts';
import { AskqWorker, workerOptionsFromConfig } from '../../../src/worker/askq-worker.ts';
import { testConfig } from '../../support/config.ts';
import {
  deletePrefix,
  testConnection,
  testRedisEnv,
  testRedisSettings,
  uniquePrefix,
} from '../../support/redis.ts';
import { runCli } from '../../support/run-cli.ts';

const prefix = uniquePrefix('eval-variants');
let tmp: string;
let env: Record<string, string>;
let redis: Redis;

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'askq-eval-variants-'));
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
  return (await readFile(path, 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as CaseResult);
}

describe('askq eval variants, repeats, compare and JUnit', () => {
  const dir = () => join(tmp, 'run-variants');

  it('runs each case once per variant and repeat, side by side with 95% intervals', async () => {
    const junit = join(tmp, 'junit.xml');
    const r = await runCli(
      [
        'eval',
        'run',
        'examples/questions.jsonl',
        '--with-worker',
        '--out',
        dir(),
        '--variant',
        'k1:{"topK":1}',
        '--variant',
        'k4:{"topK":4}',
        '--repeat',
        '2',
        '--junit',
        junit,
        '--json',
      ],
      env,
    );
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.stdout) as RunSummary;
    // 14 cases × 2 variants × 2 repeats.
    expect(summary).toMatchObject({ valid: 14, completed: 56, notRun: 0 });
    expect(Object.keys(summary.variants ?? {})).toEqual(['k1', 'k4']);
    for (const v of Object.values(summary.variants!)) {
      expect(v.completed).toBe(28);
      expect(v.passRate.low).toBeLessThanOrEqual(v.passRate.value);
      expect(v.passRate.high).toBeGreaterThanOrEqual(v.passRate.value);
      expect(v.metrics['hit@k']!.mean.high).toBeGreaterThanOrEqual(v.metrics['hit@k']!.mean.low);
      // The embedded default is deterministic: repeats agree.
      expect(v.repeatSpread).toEqual({ meanStdDev: 0, flakyCases: 0 });
    }
    // Fewer sources retrieved, fewer expected sources found.
    expect(summary.variants!.k1!.metrics.mrr!.mean.value).toBeLessThanOrEqual(
      summary.variants!.k4!.metrics.mrr!.mean.value,
    );
    const results = await readJsonl(join(dir(), 'results.jsonl'));
    const one = results.filter((x) => x.caseId === 'q-en-backoff');
    expect(one.map((x) => x.id).sort()).toEqual([
      'q-en-backoff@k1#1',
      'q-en-backoff@k1#2',
      'q-en-backoff@k4#1',
      'q-en-backoff@k4#2',
    ]);
    expect(one.find((x) => x.variant === 'k1')!.sources).toHaveLength(1);
    expect(one.find((x) => x.variant === 'k4')!.sources.length).toBeGreaterThan(1);

    const manifest = JSON.parse(await readFile(join(dir(), 'run.json'), 'utf8')) as RunManifest;
    expect(manifest.settings).toMatchObject({
      variants: [
        { name: 'k1', settings: { topK: 1 } },
        { name: 'k4', settings: { topK: 4 } },
      ],
      repeat: 2,
      runsPerCase: 4,
    });
    const file = await readFile('examples/questions.jsonl');
    expect(manifest.reproducibility).toEqual({
      fileSha256: createHash('sha256').update(file).digest('hex'),
      askqVersion: JSON.parse(await readFile('package.json', 'utf8')).version,
      providers: {
        chat: 'local:extractive-v1',
        embeddings: 'local:hashing-v1',
        vectorStore: `local:${join(tmp, 'store')}`,
      },
      grader: null,
      variants: manifest.settings.variants,
      repeat: 2,
    });
    const html = await readFile(join(dir(), 'report.html'), 'utf8');
    expect(html).toContain('<table id="variants">');
    const csv = await readFile(join(dir(), 'results.csv'), 'utf8');
    expect(csv.split('\n')[0]).toMatch(/,caseId,variant,repeat$/);

    const xml = await readFile(junit, 'utf8');
    expect(xml).toContain(`<testsuite name="askq eval ${summary.runId}" tests="56"`);
    expect(xml.match(/<testcase /g)).toHaveLength(56);
    expect(xml).toContain('<testcase classname="askq.k1" name="q-en-backoff #1"');
  });

  it('compares two variants of one run with a bootstrap interval and McNemar', async () => {
    const r = await runCli(['eval', 'compare', `${dir()}@k4`, `${dir()}@k1`, '--json'], env);
    expect(r.code).toBe(0);
    const c = JSON.parse(r.stdout);
    expect(c.paired).toBe(28);
    expect(c.metrics.mrr.n).toBe(28);
    expect(c.metrics.mrr.delta.low).toBeLessThanOrEqual(c.metrics.mrr.delta.value);
    expect(c.passRate.mcnemarP).toBeGreaterThan(0);
    const text = await runCli(['eval', 'compare', `${dir()}@k4`, `${dir()}@k1`], env);
    expect(text.stdout).toMatch(/^compare \S+@k4 \(a\) → \S+@k1 \(b\): 28 cases in both/);
    expect(text.stdout).toMatch(
      /mrr +mean \d\.\d{3} → \d\.\d{3} \([+-]\d\.\d{3}, 95% CI [+-]\d\.\d{3} … [+-]\d\.\d{3}, n 28\)/,
    );
    const missing = await runCli(['eval', 'compare', `${dir()}@k9`, `${dir()}@k1`], env);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('has no variant "k9" (it has k1, k4)');
  });

  it('fails on a significant drop only, naming the metric and its size', async () => {
    // Two synthetic runs of 40 cases: b fails 15 that passed in a, improves none.
    const make = async (name: string, failing: number) => {
      const d = join(tmp, name);
      await mkdir(d, { recursive: true });
      const manifest = JSON.parse(await readFile(join(dir(), 'run.json'), 'utf8')) as RunManifest;
      await writeFile(
        join(d, 'run.json'),
        JSON.stringify({
          ...manifest,
          runId: name,
          settings: {
            ...manifest.settings,
            variants: undefined,
            repeat: undefined,
            runsPerCase: 1,
          },
          enqueued: { valid: 40, invalid: 0, complete: true },
        }),
      );
      const base = (await readJsonl(join(dir(), 'results.jsonl')))[0]!;
      const lines = Array.from({ length: 40 }, (_, i) => {
        const fail = i < failing;
        return JSON.stringify({
          ...base,
          id: `c${i}`,
          caseId: undefined,
          variant: undefined,
          repeat: undefined,
          status: fail ? 'failed' : 'passed',
          scores: { contains: fail ? 0 : 1 },
          failedAssertions: fail ? ['contains'] : [],
        });
      });
      await writeFile(join(d, 'results.jsonl'), `${lines.join('\n')}\n`);
      return d;
    };
    const a = await make('syn-a', 0);
    const b = await make('syn-b', 15);
    const r = await runCli(['eval', 'compare', a, b, '--fail-on-regression'], env);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(
      'REGRESSION: pass rate dropped 37.5 pt over 40 cases (15 regressed, 0 improved; McNemar p < 0.0001, below α 0.05)',
    );
    expect(r.stdout).toMatch(
      /REGRESSION: contains mean dropped 0\.375 over 40 cases \(95% CI -0\.\d+ … -0\.\d+\)/,
    );
    // Two flips in 40 are noise.
    const c = await make('syn-c', 2);
    const noise = await runCli(['eval', 'compare', a, c, '--fail-on-regression'], env);
    expect(noise.code).toBe(0);
    expect(noise.stdout).toContain('no regression beyond noise');
  });

  it('refuses a bad --variant with the reason and exit code 2', async () => {
    const bad = await runCli(
      ['eval', 'run', 'examples/questions.jsonl', '--variant', 'k1:{"topk":1}'],
      env,
    );
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('variant "k1"');
    expect(bad.stderr).toContain('topk');
  });

  it('refuses a bad --variant before it needs Redis', async () => {
    // Nothing listens here: a command that connected first would exit 3 (Redis unreachable).
    const bad = await runCli(
      ['eval', 'run', 'examples/questions.jsonl', '--variant', 'k1:{"topk":1}'],
      {
        REDIS_URL: `redis://127.0.0.1:${await freePort()}`,
        ASKQ_LOCAL_STORE_DIR: join(tmp, 'store'),
      },
    );
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--variant: variant "k1"');
  });
});
