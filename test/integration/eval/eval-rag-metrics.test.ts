import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { CaseResult } from '../../../src/producer/eval/case-result.ts';
import type { RunSummary } from '../../../src/producer/eval/summarize.ts';
import { ingest } from '../../../src/producer/ingest.ts';
import type { Redis } from '../../../src/shared/redis.ts';
import { NO_GRADER_REASON } from '../../../src/shared/scoring/grader-errors.ts';
import { AskqWorker, workerOptionsFromConfig } from '../../../src/worker/askq-worker.ts';
import { testConfig } from '../../support/config.ts';
import type { ScriptedBehaviour } from '../../support/fake-openai-server.ts';
import {
  fakeGrade,
  type FakeOpenAI,
  isGraderRequest,
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

const prefix = uniquePrefix('eval-rag');
let tmp: string;
let local: Record<string, string>;
let redis: Redis;
let fake: FakeOpenAI;
/** What the fake's grader route does with the next grader requests; undefined answers. */
let graderFault: ScriptedBehaviour | undefined;
/** The same for answering requests. */
let answerFault: ScriptedBehaviour | undefined;
const traffic = { answers: 0, grades: 0 };

const RAG = [
  { type: 'faithfulness' },
  { type: 'answer-relevancy' },
  { type: 'context-precision' },
  { type: 'context-recall' },
];
const inCorpus = {
  id: 'in',
  question: 'How long does BullMQ wait between retries with exponential backoff?',
  expected: '1, 2, 4 and 8 seconds',
  assert: RAG,
};
const notInCorpus = {
  id: 'out',
  question: 'Which PostgreSQL isolation level do banks use for ledgers?',
  expected: 'Serializable isolation prevents write skew in ledgers',
  assert: RAG,
};
const judged = {
  id: 'judged',
  question: 'What is LCEL?',
  assert: [{ type: 'judge', rubric: 'explains LCEL' }],
};

async function readJsonl(path: string): Promise<CaseResult[]> {
  const text = await readFile(path, 'utf8');
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as CaseResult);
}

async function questions(name: string, rows: object[]): Promise<string> {
  const file = join(tmp, name);
  await writeFile(file, rows.map((r) => JSON.stringify(r)).join('\n'));
  return file;
}

/** Answers through the fake too, so answering and grading requests can be told apart. */
function remote(extra: Record<string, string> = {}): Record<string, string> {
  return {
    ...local,
    ASKQ_LLM: 'openai',
    ASKQ_EMBEDDINGS: 'local',
    OPENAI_API_KEY: 'sk-test-answer',
    OPENAI_BASE_URL: fake.url,
    ASKQ_GRADER_MODEL: 'grader-model',
    ASKQ_GRADER_API_KEY: 'sk-test-grader',
    ASKQ_ATTEMPTS: '2',
    ASKQ_MAX_STARTED_ATTEMPTS: '4',
    ASKQ_BACKOFF_MS: '20',
    ASKQ_BACKOFF_MAX_MS: '50',
    ...extra,
  };
}

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'askq-eval-rag-'));
  local = {
    ...testRedisEnv(),
    ASKQ_PREFIX: prefix,
    ASKQ_LOCAL_STORE_DIR: join(tmp, 'store'),
  };
  redis = testConnection();
  fake = await startFakeOpenAI({
    decide: (route, request) =>
      route !== 'chat' ? undefined : isGraderRequest(request) ? graderFault : answerFault,
    onTraffic: (e) => {
      if (e.kind !== 'request' || e.route !== 'chat') return;
      if (isGraderRequest(e.request)) traffic.grades += 1;
      else traffic.answers += 1;
    },
  });
  const worker = await AskqWorker.start(workerOptionsFromConfig(testConfig(local)));
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

describe('RAG metrics on the embedded default (lexical)', () => {
  it('scores an answer found in the corpus above one that is not; judge errors, nothing fails for want of a grader', async () => {
    const file = await questions('lexical.jsonl', [inCorpus, notInCorpus, judged]);
    const out = join(tmp, 'run-lexical');
    const r = await runCli(['eval', 'run', file, '--with-worker', '--out', out, '--json'], local);
    expect(r.stderr).not.toContain('invalid row');
    const summary = JSON.parse(r.stdout) as RunSummary;
    expect(summary).toMatchObject({ completed: 3, errored: 1 });
    expect(summary.errorReasons).toEqual({ [NO_GRADER_REASON]: 1 });
    const results = await readJsonl(join(out, 'results.jsonl'));
    const byId = new Map(results.map((x) => [x.id, x]));
    expect(byId.get('judged')).toMatchObject({ status: 'error', error: NO_GRADER_REASON });
    const found = byId.get('in')!;
    const missing = byId.get('out')!;
    for (const key of ['faithfulness', 'context-precision', 'context-recall']) {
      expect(found.scoreDetails?.[key]?.method).toBe('lexical');
      expect(found.scores[key]!, key).toBeGreaterThan(missing.scores[key]!);
    }
    expect(found.scores['context-recall']).toBeGreaterThan(0.8);
    expect(missing.scores['context-recall']).toBeLessThan(0.3);
    expect(found.scoreDetails?.['context-recall']?.reason).toMatch(
      /^1 of 1 reference statements mostly found in the sources/,
    );
    expect(found.graderUsage).toBeUndefined();
    expect(summary.grader).toEqual({ models: [], tokens: { input: 0, output: 0 }, costUsd: 0 });
    const html = await readFile(join(out, 'report.html'), 'utf8');
    expect(html).toContain('reference statements mostly found in the sources');
  });
});

describe('RAG metrics with a grader model (llm)', () => {
  it('grades in structured output, keeps reasons, and counts grader tokens apart', async () => {
    const file = await questions('llm.jsonl', [inCorpus, judged]);
    const out = join(tmp, 'run-llm');
    const before = { ...traffic };
    const r = await runCli(
      ['eval', 'run', file, '--with-worker', '--out', out, '--json'],
      remote(),
    );
    expect(r.stderr).toBe('');
    const summary = JSON.parse(r.stdout) as RunSummary;
    expect(summary).toMatchObject({ completed: 2, errored: 0 });
    expect(traffic.answers - before.answers).toBe(2);
    // Four RAG metrics + one judge.
    expect(traffic.grades - before.grades).toBe(5);
    const results = await readJsonl(join(out, 'results.jsonl'));
    const found = results.find((x) => x.id === 'in')!;
    expect(found.scoreDetails).toMatchObject({
      faithfulness: { method: 'llm', reason: '1 of 1 answer statements supported' },
      'context-recall': { method: 'llm', reason: '1 of 1 reference statements supported' },
      'context-precision': { method: 'llm' },
      'answer-relevancy': { method: 'llm' },
    });
    expect(found.scores).toMatchObject({
      faithfulness: 1,
      'context-recall': 1,
      'context-precision': 1,
    });
    expect(results.find((x) => x.id === 'judged')).toMatchObject({
      scores: { judge: 0.7 },
      scoreDetails: { judge: { method: 'llm', reason: 'fake grader: meets most of the rubric' } },
    });
    expect(summary.grader.models).toEqual(['grader-model']);
    expect(summary.grader.tokens.input).toBeGreaterThan(0);
    expect(summary.tokens.input).toBeGreaterThan(0);
    const html = await readFile(join(out, 'report.html'), 'utf8');
    expect(html).toContain('fake grader: meets most of the rubric');
  });

  it('errors (never fails) a case whose grader replies garbage, and says why in summary.json', async () => {
    fake.graderReply = (body, name) =>
      name === 'faithfulness' ? 'looks fine to me' : fakeGrade(body, name);
    try {
      const file = await questions('garbage.jsonl', [inCorpus]);
      const r = await runCli(
        ['eval', 'run', file, '--with-worker', '--out', join(tmp, 'run-garbage'), '--json'],
        remote(),
      );
      const summary = JSON.parse(r.stdout) as RunSummary;
      expect(summary).toMatchObject({ completed: 1, errored: 1, failed: 0 });
      expect(Object.keys(summary.errorReasons)[0]).toMatch(
        /faithfulness: the grader's reply does not match its schema/,
      );
    } finally {
      fake.graderReply = fakeGrade;
    }
  });

  it('errors a case whose grader keeps answering 429, then --retry-errors only scores it again', async () => {
    graderFault = { status: 429, headers: { 'retry-after-ms': '20' } };
    const out = join(tmp, 'run-429');
    try {
      const file = await questions('limited.jsonl', [inCorpus]);
      const r = await runCli(
        ['eval', 'run', file, '--with-worker', '--out', out, '--json'],
        remote(),
      );
      const summary = JSON.parse(r.stdout) as RunSummary;
      expect(summary).toMatchObject({ completed: 1, errored: 1, failed: 0 });
    } finally {
      graderFault = undefined;
    }
    const before = { ...traffic };
    const retry = await runCli(
      ['eval', 'run', '--retry-errors', out, '--with-worker', '--json'],
      remote(),
    );
    const summary = JSON.parse(retry.stdout) as RunSummary;
    expect(summary).toMatchObject({ completed: 1, errored: 0 });
    // The answer was kept from the errored job: only the four grader calls ran.
    expect(traffic.answers - before.answers).toBe(0);
    expect(traffic.grades - before.grades).toBe(4);
    // A rate-limited job goes back to waiting without using an attempt, until BullMQ's
    // maxStartedAttempts; each queue pause costs the worker a poll interval.
  }, 60_000);

  it('errors a case the chat fallback would have answered, with the reason; --retry-errors answers it again', async () => {
    // Evaluations opt out of degraded answers: a degraded answer is not the model's to score.
    const fallback = remote({ ASKQ_CHAT_FALLBACK: 'extractive' });
    answerFault = { status: 500 };
    const out = join(tmp, 'run-chat-down');
    try {
      const file = await questions('chat-down.jsonl', [inCorpus]);
      const r = await runCli(
        ['eval', 'run', file, '--with-worker', '--out', out, '--json'],
        fallback,
      );
      const summary = JSON.parse(r.stdout) as RunSummary;
      expect(summary).toMatchObject({
        completed: 1,
        errored: 1,
        failed: 0,
        degraded: 0,
        degradedReasons: { chat_unavailable: { answered: 0, errors: 1 } },
      });
      expect(Object.keys(summary.errorReasons)).toEqual([
        expect.stringContaining('would have answered degraded (chat_unavailable)'),
      ]);
      const [result] = await readJsonl(join(out, 'results.jsonl'));
      expect(result).toMatchObject({ status: 'error', degradedReason: 'chat_unavailable' });
    } finally {
      answerFault = undefined;
    }
    const before = { ...traffic };
    const retry = await runCli(
      ['eval', 'run', '--retry-errors', out, '--with-worker', '--json'],
      fallback,
    );
    const summary = JSON.parse(retry.stdout) as RunSummary;
    expect(summary).toMatchObject({ completed: 1, errored: 0, degraded: 0, errorReasons: {} });
    // No answer was kept from the errored job: the model answers it, then the grader scores.
    expect(traffic.answers - before.answers).toBe(1);
    expect(traffic.grades - before.grades).toBe(4);
  }, 60_000);

  it('--allow-degraded scores the fallback answer and is kept in run.json, which --resume reads', async () => {
    answerFault = { status: 500 };
    const out = join(tmp, 'run-allow-degraded');
    try {
      const file = await questions('allow-degraded.jsonl', [inCorpus]);
      const r = await runCli(
        ['eval', 'run', file, '--with-worker', '--allow-degraded', '--out', out, '--json'],
        remote({ ASKQ_CHAT_FALLBACK: 'extractive' }),
      );
      const summary = JSON.parse(r.stdout) as RunSummary;
      expect(summary).toMatchObject({ completed: 1, errored: 0, degraded: 1 });
      const [result] = await readJsonl(join(out, 'results.jsonl'));
      expect(result).toMatchObject({ degraded: true, degradedReason: 'chat_unavailable' });
      const manifest = JSON.parse(await readFile(join(out, 'run.json'), 'utf8')) as {
        settings: { allowDegraded?: boolean };
      };
      expect(manifest.settings.allowDegraded).toBe(true);
    } finally {
      answerFault = undefined;
    }
  }, 60_000);

  it('errors a case whose grader hangs past the call timeout', async () => {
    graderFault = { hang: true };
    try {
      const file = await questions('hung.jsonl', [inCorpus]);
      const r = await runCli(
        ['eval', 'run', file, '--with-worker', '--out', join(tmp, 'run-hung'), '--json'],
        remote({ ASKQ_CALL_TIMEOUT_MS: '300' }),
      );
      const summary = JSON.parse(r.stdout) as RunSummary;
      expect(summary).toMatchObject({ completed: 1, errored: 1, failed: 0 });
      expect(Object.keys(summary.errorReasons)[0]).toMatch(/timed out|timeout/i);
    } finally {
      graderFault = undefined;
    }
  });

  it('errors at once a case whose --grader model the deployed worker does not allow', async () => {
    const worker = await AskqWorker.start(workerOptionsFromConfig(testConfig(remote())));
    try {
      const file = await questions('not-allowed.jsonl', [inCorpus]);
      const before = { ...traffic };
      const r = await runCli(
        [
          'eval',
          'run',
          file,
          '--grader',
          'gpt-expensive',
          '--out',
          join(tmp, 'run-denied'),
          '--json',
        ],
        remote(),
      );
      const summary = JSON.parse(r.stdout) as RunSummary;
      expect(summary).toMatchObject({ completed: 1, errored: 1 });
      expect(Object.keys(summary.errorReasons)[0]).toMatch(
        /^grader model "gpt-expensive" is not allowed on this worker \(allowed: .*grader-model/,
      );
      // Failed before answering: nothing was paid for.
      expect(traffic.answers - before.answers).toBe(0);
      const manifest = JSON.parse(await readFile(join(tmp, 'run-denied', 'run.json'), 'utf8'));
      expect(manifest.settings.grader).toBe('gpt-expensive');
    } finally {
      await worker.close(5000);
    }
  });
});
