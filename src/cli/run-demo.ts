import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

import { type CaseResult, RESULTS_FILE, runEval } from '../producer/eval/index.ts';
import { ingest } from '../producer/ingest.ts';
import { type Config, redactUrl } from '../shared/config.ts';
import { type LocalRedis, startLocalRedis } from '../shared/local-redis.ts';
import { redisAnswers } from '../shared/redis.ts';
import { redisSettingsFrom } from '../shared/redis-settings.ts';
import { formatCase } from './format-answer.ts';
import { startInProcessWorker } from './in-process-worker.ts';
import { formatSummary } from './run-eval.ts';

const EXAMPLES = fileURLToPath(new URL('../../examples/', import.meta.url));

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
  // Only a standalone Redis may be replaced by a private one; a cluster or Sentinel is used as set.
  const standalone = redisSettingsFrom(config).mode === 'standalone';
  if (standalone && !(await redisAnswers(redisSettingsFrom(config)))) {
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
  const worker = await startInProcessWorker(config);
  try {
    say(
      `Providers: chat ${worker.ports.chat.provider}:${worker.ports.chat.model}, ` +
        `embeddings ${worker.ports.embeddings.provider}:${worker.ports.embeddings.model}, ` +
        `vector store ${worker.ports.store.provider}`,
    );
    const corpus = `${EXAMPLES}corpus`;
    const summary = await ingest([corpus], {
      redis: redisSettingsFrom(config),
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

    // The example questions run as an evaluation: through the queue, scored, with a report.
    const outcome = await runEval({
      redis: redisSettingsFrom(config),
      prefix: config.ASKQ_PREFIX,
      mode: 'new',
      file: `${EXAMPLES}questions.jsonl`,
      settings: { withWorker: true },
      priority: config.ASKQ_EVAL_PRIORITY,
      keepSeconds: config.ASKQ_KEEP_SECONDS,
      prices: config.ASKQ_EVAL_PRICES,
      ...(config.ASKQ_JAEGER_URL ? { jaegerUrl: config.ASKQ_JAEGER_URL } : {}),
      onInvalid: (row) => say(`invalid row at ${row.where}: ${row.reason}`),
    });
    const cases = (await readFile(`${outcome.dir}/${RESULTS_FILE}`, 'utf8'))
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => JSON.parse(line) as CaseResult);
    for (const [i, c] of cases.entries()) {
      say();
      say(`Q${i + 1} ${c.question}  [${c.status}]`);
      say(formatCase(c));
    }
    say();
    say(formatSummary(outcome.summary!, outcome.dir));
    return 0;
  } finally {
    await worker.close(config.ASKQ_SHUTDOWN_GRACE_MS);
    await redis?.stop();
  }
}

function hasRedisServer(): boolean {
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
