import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

import { AskqClient, clientOptionsFromConfig } from '../producer/askq-client.ts';
import { ingest } from '../producer/ingest.ts';
import { type Config, redactUrl } from '../shared/config.ts';
import { answerJobDataSchema, type AnswerResult } from '../shared/contracts.ts';
import { type LocalRedis, startLocalRedis } from '../shared/local-redis.ts';
import { createLogger } from '../shared/logger.ts';
import { redisAnswers } from '../shared/redis.ts';
import { AskqWorker } from '../worker/askq-worker.ts';
import { formatAnswer } from './format-answer.ts';
import { quietLevel } from './run-ingest.ts';

const EXAMPLES = fileURLToPath(new URL('../../examples/', import.meta.url));

interface DemoQuestion {
  id: string;
  question: string;
  expected?: string;
  expectedSources?: string[];
}

/**
 * `askq demo`: the main job on the embedded default. Uses the Redis at REDIS_URL, or starts a
 * private redis-server when none answers; ingests examples/corpus and answers
 * examples/questions.jsonl through the queue with an in-process worker.
 */
export async function runDemo(
  config: Config,
  out: NodeJS.WritableStream = process.stdout,
): Promise<number> {
  const say = (line = '') => out.write(`${line}\n`);
  let redis: LocalRedis | undefined;
  if (!(await redisAnswers(config.REDIS_URL))) {
    if (!hasRedisServer()) {
      say(`No Redis answers at ${redactUrl(config.REDIS_URL)} and redis-server is not installed.`);
      say(
        'Start one (Debian/Ubuntu: sudo apt-get install redis-server; macOS: brew install redis),',
      );
      say('or point REDIS_URL at one, then run npm run demo again.');
      return 1;
    }
    redis = await startLocalRedis();
    say(
      `No Redis at ${redactUrl(config.REDIS_URL)}: started a private redis-server at ${redis.url} for the demo.`,
    );
    config = { ...config, REDIS_URL: redis.url };
  }
  const logger = createLogger({
    level: quietLevel(config),
    name: 'askq-worker',
    destination: process.stderr,
  });
  const worker = await AskqWorker.start({ config, logger });
  const client = new AskqClient(clientOptionsFromConfig(config));
  try {
    say(
      `Providers: chat ${worker.ports.chat.provider}:${worker.ports.chat.model}, ` +
        `embeddings ${worker.ports.embeddings.provider}:${worker.ports.embeddings.model}, ` +
        `vector store ${worker.ports.store.provider}`,
    );
    const corpus = `${EXAMPLES}corpus`;
    const summary = await ingest([corpus], {
      redisUrl: config.REDIS_URL,
      prefix: config.ASKQ_PREFIX,
      chunkSize: config.ASKQ_CHUNK_SIZE,
      chunkOverlap: config.ASKQ_CHUNK_OVERLAP,
      onSkip: (s) => say(`skipped ${s.where}: ${s.reason}`),
    });
    say(`Ingested ${summary.documents} documents (${summary.chunks} chunks) from examples/corpus.`);
    if (summary.failed.length > 0) {
      for (const f of summary.failed) say(`ingest batch failed: ${f.reason}`);
      return 1;
    }

    const questions = await readQuestions(`${EXAMPLES}questions.jsonl`);
    const started = performance.now();
    const { ids } = await client.askMany(
      questions.map((q) => answerJobDataSchema.parse({ question: q.question })),
    );
    let matched = 0;
    let cited = 0;
    for (const [i, q] of questions.entries()) {
      const result = await client.waitForAnswer(ids[i]!, { timeoutMs: 120_000 });
      const hit = q.expected ? normalise(result.answer).includes(normalise(q.expected)) : undefined;
      const sourced = q.expectedSources ? citesExpected(result, q.expectedSources) : undefined;
      if (hit) matched += 1;
      if (sourced) cited += 1;
      say();
      say(`Q${i + 1} ${q.question}`);
      say(formatAnswer(result));
      if (hit !== undefined)
        say(`  expected "${q.expected}": ${hit ? 'found' : 'NOT found'} in the answer`);
    }
    const seconds = (performance.now() - started) / 1000;
    say();
    say(
      `${questions.length} questions answered through the queue in ${seconds.toFixed(2)} s: ` +
        `${matched}/${questions.filter((q) => q.expected).length} contain the expected answer, ` +
        `${cited}/${questions.filter((q) => q.expectedSources).length} retrieved the expected document.`,
    );
    return 0;
  } finally {
    await client.close();
    await worker.close(config.ASKQ_SHUTDOWN_GRACE_MS);
    await redis?.stop();
  }
}

async function readQuestions(path: string): Promise<DemoQuestion[]> {
  const text = await readFile(path, 'utf8');
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as DemoQuestion);
}

function citesExpected(result: AnswerResult, expected: string[]): boolean {
  return result.sources.some((s) => expected.includes(s.id));
}

function normalise(text: string): string {
  return text.normalize('NFKC').toLowerCase().replace(/\s+/g, ' ');
}

function hasRedisServer(): boolean {
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
