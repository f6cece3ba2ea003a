import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, expect, it } from 'vitest';

import type { CaseResult } from '../../../src/producer/eval/case-result.ts';
import type { RunSummary } from '../../../src/producer/eval/summarize.ts';
import type { Redis } from '../../../src/shared/redis.ts';
import { AskqWorker, workerOptionsFromConfig } from '../../../src/worker/askq-worker.ts';
import { testConfig } from '../../support/config.ts';
import {
  type ChatRequestBody,
  type FakeOpenAI,
  startFakeOpenAI,
} from '../../support/fake-openai-server.ts';
import { deletePrefix, testConnection, testRedisEnv, uniquePrefix } from '../../support/redis.ts';
import { runCli, spawnCli } from '../../support/run-cli.ts';

const CASES = 30;
const prefix = uniquePrefix('eval-resume');
let tmp: string;
let fake: FakeOpenAI;
let redis: Redis;
/** Questions the fake was asked, in order. */
const asked: string[] = [];
let onAsked: (() => void) | undefined;

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'askq-eval-resume-'));
  redis = testConnection();
  fake = await startFakeOpenAI({ latencyMs: 40 });
  fake.chatReply = (body: ChatRequestBody) => {
    const user = body.messages.at(-1)?.content;
    asked.push(/Question: (.*)$/s.exec(typeof user === 'string' ? user : '')?.[1]?.trim() ?? '');
    onAsked?.();
    return 'an answer';
  };
});

afterAll(async () => {
  await fake.close();
  await deletePrefix(redis, prefix);
  await redis.quit();
  await rm(tmp, { recursive: true, force: true });
});

function askedCount(n: number): Promise<void> {
  return new Promise((resolve) => {
    onAsked = () => {
      if (asked.length >= n) resolve();
    };
    onAsked();
  });
}

async function results(dir: string): Promise<CaseResult[]> {
  return (await readFile(join(dir, 'results.jsonl'), 'utf8')).split('\n').flatMap((l) => {
    try {
      return [JSON.parse(l) as CaseResult];
    } catch {
      return [];
    }
  });
}

it('resumes a killed run without asking finished cases again, recovering what finished meanwhile', async () => {
  const env = {
    ...testRedisEnv(),
    ASKQ_PREFIX: prefix,
    ASKQ_LOCAL_STORE_DIR: join(tmp, 'store'),
    ASKQ_LLM: 'openai',
    ASKQ_EMBEDDINGS: 'local',
    OPENAI_API_KEY: 'sk-test-resume',
    OPENAI_BASE_URL: fake.url,
    // A killed worker's jobs come back quickly through stalled-job recovery.
    ASKQ_LOCK_DURATION_MS: '1000',
    ASKQ_STALLED_INTERVAL_MS: '300',
  };
  const file = join(tmp, 'questions.jsonl');
  await writeFile(
    file,
    Array.from({ length: CASES }, (_, i) =>
      JSON.stringify({ id: `case-${i}`, question: `question number ${i}?`, expected: 'answer' }),
    ).join('\n'),
  );
  const dir = join(tmp, 'run');

  // 1. The CLI runs with its own worker and is SIGKILLed a third of the way through.
  const cli = spawnCli(
    ['eval', 'run', file, '--with-worker', '--concurrency', '2', '--out', dir],
    env,
  );
  const exited = new Promise((resolve) => cli.on('exit', resolve));
  await askedCount(10);
  cli.kill('SIGKILL');
  await exited;
  const beforeKill = await results(dir);
  const askedBeforeKill = asked.length;
  expect(beforeKill.length).toBeGreaterThan(0);
  expect(beforeKill.length).toBeLessThan(CASES);

  // 2. A deployed worker answers a few more while no CLI follows the run.
  const worker = await AskqWorker.start({
    ...workerOptionsFromConfig(testConfig(env)),
    concurrency: 1,
  });
  await askedCount(askedBeforeKill + 5);
  await worker.close(5000);
  const askedWhileDown = asked.slice(askedBeforeKill);

  // 3. Resume: only the cases with no result anywhere are asked.
  const askedBeforeResume = asked.length;
  const resumed = await runCli(['eval', 'run', '--resume', dir, '--with-worker', '--json'], env);
  expect(resumed.stderr).toBe('');
  expect(resumed.code).toBe(0);
  const summary = JSON.parse(resumed.stdout) as RunSummary;
  expect(summary).toMatchObject({ completed: CASES, passed: CASES, errored: 0 });

  const final = await results(dir);
  expect(new Set(final.map((r) => r.id)).size).toBe(CASES);
  expect(final).toHaveLength(CASES);
  const askedOnResume = new Set(asked.slice(askedBeforeResume));
  for (const r of beforeKill) expect(askedOnResume.has(r.question)).toBe(false);
  // What the worker answered while the CLI was down came from Redis, not from the model.
  const answeredWhileDown = askedWhileDown.filter((q) => !beforeKill.some((r) => r.question === q));
  expect(answeredWhileDown.length).toBeGreaterThan(0);
  for (const q of answeredWhileDown.slice(0, -1)) expect(askedOnResume.has(q)).toBe(false);
  // Each case is asked once, except those in flight when a worker died or closed.
  expect(fake.calls.chat).toBeLessThanOrEqual(CASES + 2 + 1);
}, 60_000);
