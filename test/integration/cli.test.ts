import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { answerResultSchema } from '../../src/shared/contracts.ts';
import { createRedisConnection } from '../../src/shared/redis.ts';
import { deletePrefix, testRedisUrl, uniquePrefix } from '../support/redis.ts';
import { runCli, spawnCli } from '../support/run-cli.ts';

describe('askq config and input validation', () => {
  it('prints the effective configuration with secrets redacted', async () => {
    const canary = 'sk-canary-0123456789abcdef';
    const res = await runCli(['config'], {
      OPENAI_API_KEY: canary,
      REDIS_URL: 'redis://:hunter2pass@127.0.0.1:6399/0',
      ASKQ_VECTOR_STORE: 'local',
    });
    expect(res.code).toBe(0);
    const printed = JSON.parse(res.stdout) as Record<string, unknown>;
    expect(printed).toMatchObject({
      ASKQ_LLM: 'openai',
      ASKQ_EMBEDDINGS: 'openai',
      ASKQ_VECTOR_STORE: 'local',
    });
    expect(printed.OPENAI_API_KEY).toBe('[redacted]');
    expect(res.stdout + res.stderr).not.toContain(canary);
    expect(res.stdout + res.stderr).not.toContain('hunter2pass');
  });

  it('stops at start with every configuration problem listed and exit code 2', async () => {
    const res = await runCli(['config'], {
      ASKQ_CONCURRENCY: 'lots',
      ASKQ_TOP_K: '0',
      REDIS_URL: 'http://localhost',
      ASKQ_LLM: 'gpt',
    });
    expect(res.code).toBe(2);
    for (const key of ['ASKQ_CONCURRENCY', 'ASKQ_TOP_K', 'REDIS_URL', 'ASKQ_LLM']) {
      expect(res.stderr).toContain(key);
    }
  });

  it('rejects bad questions and flags with exit code 2 and a clear message', async () => {
    const env = { REDIS_URL: testRedisUrl(), ASKQ_PREFIX: uniquePrefix('cli') };
    const empty = await runCli(['ask', '   '], env);
    expect(empty.code).toBe(2);
    expect(empty.stderr).toMatch(/question must not be empty/);
    const topK = await runCli(['ask', '--top-k', '99', 'hello'], env);
    expect(topK.code).toBe(2);
    expect(topK.stderr).toMatch(/--top-k.*whole number from 1 to 50/);
    const conc = await runCli(['worker', '--concurrency', '0'], env);
    expect(conc.code).toBe(2);
  });
});

describe('askq worker + ingest + ask on the embedded default', () => {
  const prefix = uniquePrefix('cli-e2e');
  let storeDir: string;
  let env: Record<string, string>;
  let worker: ReturnType<typeof spawnCli>;
  let workerLog = '';

  beforeAll(async () => {
    storeDir = await mkdtemp(join(tmpdir(), 'askq-cli-store-'));
    env = { REDIS_URL: testRedisUrl(), ASKQ_PREFIX: prefix, ASKQ_LOCAL_STORE_DIR: storeDir };
    worker = spawnCli(['worker', '--concurrency', '4'], env);
    worker.stdout?.on('data', (d: Buffer) => (workerLog += d.toString()));
    // The worker logs 'worker started' once it takes jobs: wait for that line.
    await new Promise<void>((resolve, reject) => {
      worker.stdout?.on('data', () => workerLog.includes('worker started') && resolve());
      worker.on('exit', (code) => reject(new Error(`worker exited ${code}: ${workerLog}`)));
    });
  }, 60_000);

  afterAll(async () => {
    if (worker.exitCode === null) {
      worker.kill('SIGKILL');
      await new Promise((r) => worker.on('exit', r));
    }
    const redis = createRedisConnection(testRedisUrl(), 'worker');
    await deletePrefix(redis, prefix);
    await redis.quit();
    await rm(storeDir, { recursive: true, force: true });
  });

  it('logs which provider serves each port', () => {
    const line = workerLog.split('\n').find((l) => l.includes('"providers"'));
    expect(JSON.parse(line!)).toMatchObject({
      chat: 'local:extractive-v1',
      embeddings: 'local:hashing-v1',
    });
  });

  it('ingests the bilingual corpus and answers Chinese and English questions from the right document', async () => {
    const ingest = await runCli(['ingest', 'examples/corpus'], env);
    expect(ingest.code, ingest.stderr).toBe(0);
    expect(ingest.stdout).toMatch(/ingested \d+ documents/);
    const again = await runCli(['ingest', 'examples/corpus', '--json'], env);
    expect(again.code).toBe(0);

    const zh = await runCli(['ask', '什么是 LCEL？', '--wait', '--json'], env);
    expect(zh.code, zh.stderr).toBe(0);
    const zhResult = answerResultSchema.parse(JSON.parse(zh.stdout));
    expect(zhResult.sources[0]?.id).toMatch(/lcel.*zh|zh.*lcel/i);
    expect(zhResult.answer).toMatch(/LangChain/);

    const en = await runCli(['ask', 'How does BullMQ retry failed jobs?', '--wait'], env);
    expect(en.code, en.stderr).toBe(0);
    expect(en.stdout).toMatch(/\[1\] .*bullmq/i);
  });

  it('exits 0 on SIGTERM after closing', async () => {
    const exited = new Promise<number | null>((r) => worker.on('exit', r));
    worker.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(workerLog).toContain('worker closed');
  });
});
