import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, expect, it } from 'vitest';

import type { CaseResult } from '../../../src/producer/eval/case-result.ts';
import type { RunSummary } from '../../../src/producer/eval/summarize.ts';
import { ingest } from '../../../src/producer/ingest.ts';
import type { Redis } from '../../../src/shared/redis.ts';
import { AskqWorker, workerOptionsFromConfig } from '../../../src/worker/askq-worker.ts';
import { testConfig } from '../../support/config.ts';
import {
  type ChatRequestBody,
  type FakeOpenAI,
  startFakeOpenAI,
} from '../../support/fake-openai-server.ts';
import {
  deletePrefix,
  testConnection,
  testRedisEnv,
  testRedisSettings,
  uniquePrefix,
} from '../../support/redis.ts';
import { runCli } from '../../support/run-cli.ts';

const prefix = uniquePrefix('eval-variant-models');
let tmp: string;
let env: Record<string, string>;
let redis: Redis;
let fake: FakeOpenAI;
const answers: ChatRequestBody[] = [];

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'askq-eval-variant-models-'));
  fake = await startFakeOpenAI({
    onTraffic: (e) => {
      if (e.kind === 'request' && e.route === 'chat')
        answers.push(e.request.body as ChatRequestBody);
    },
  });
  env = {
    ...testRedisEnv(),
    ASKQ_PREFIX: prefix,
    ASKQ_LOCAL_STORE_DIR: join(tmp, 'store'),
    ASKQ_LLM: 'openai',
    ASKQ_EMBEDDINGS: 'local',
    OPENAI_API_KEY: 'sk-test',
    OPENAI_BASE_URL: fake.url,
    ASKQ_ALLOWED_MODELS: 'gpt-4.1',
    ASKQ_CACHE: 'on',
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
  await fake.close();
  await deletePrefix(redis, prefix);
  await redis.quit();
  await rm(tmp, { recursive: true, force: true });
});

const system = (b: ChatRequestBody) => b.messages.find((m) => m.role === 'system')?.content;

it('applies each variant’s model, temperature and prompt, refuses a model not allowed, and caches per setting', async () => {
  const file = join(tmp, 'one.jsonl');
  await writeFile(
    file,
    JSON.stringify({
      id: 'q',
      question: 'What is LCEL?',
      expected: 'LangChain Expression Language',
    }),
  );
  const args = (out: string) => [
    'eval',
    'run',
    file,
    '--with-worker',
    '--out',
    join(tmp, out),
    '--json',
    '--variant',
    'base',
    '--variant',
    'warm:{"temperature":0.7}',
    '--variant',
    'terse:{"systemPrompt":"Answer in {five} words."}',
    '--variant',
    'other:{"model":"gpt-4.1"}',
    '--variant',
    'denied:{"model":"gpt-expensive"}',
  ];
  const first = await runCli(args('run-1'), env);
  const summary = JSON.parse(first.stdout) as RunSummary;
  expect(summary).toMatchObject({ completed: 5, errored: 1 });
  expect(Object.keys(summary.errorReasons)[0]).toMatch(
    /^variant model "gpt-expensive" is not allowed on this worker \(allowed: gpt-4o-mini, gpt-4\.1; add it/,
  );
  // One answer per allowed variant: the cache keys on temperature, prompt and model too.
  expect(answers).toHaveLength(4);
  expect(answers.map((b) => [b.model, b.temperature])).toEqual(
    expect.arrayContaining([
      ['gpt-4o-mini', 0],
      ['gpt-4o-mini', 0.7],
      ['gpt-4.1', 0],
    ]),
  );
  expect(answers.filter((b) => system(b) === 'Answer in {five} words.')).toHaveLength(1);
  expect(answers.some((b) => b.model === 'gpt-expensive')).toBe(false);
  const results = (await readFile(join(tmp, 'run-1', 'results.jsonl'), 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as CaseResult);
  expect(results.find((r) => r.variant === 'other')?.model).toBe('gpt-4.1');

  // The same run again: every allowed variant is served from its own cache entry.
  const second = await runCli(args('run-2'), env);
  expect(JSON.parse(second.stdout)).toMatchObject({ completed: 5, errored: 1 });
  expect(answers).toHaveLength(4);
});
