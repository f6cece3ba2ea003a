import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

import { cancelRun, readManifest, type RunCancellation } from '../producer/eval/index.ts';
import type { Config } from '../shared/config.ts';
import { createRedisConnection, waitUntilReady } from '../shared/redis.ts';
import { redisSettingsFrom } from '../shared/redis-settings.ts';

/**
 * `askq eval cancel <run>`: cancels the run's unfinished cases (and a batch-lane run's open
 * batches) and says how to resume. `run` is a run id (the run may be followed on another
 * machine) or a local run folder.
 */
export async function runEvalCancel(
  config: Config,
  run: string,
  options: { json?: boolean },
): Promise<number> {
  const { runId, prefix } = await runOf(run, config.ASKQ_PREFIX);
  const connection = createRedisConnection(redisSettingsFrom(config), 'producer');
  try {
    await waitUntilReady(connection);
    const outcome = await cancelRun({
      connection,
      prefix,
      runId,
      keepSeconds: config.ASKQ_KEEP_SECONDS,
      batchApi: batchApiOf(config),
    });
    process.stdout.write(
      options.json ? `${JSON.stringify(outcome)}\n` : `${formatCancellation(outcome)}\n`,
    );
    return 0;
  } finally {
    await connection.quit().catch(() => connection.disconnect());
  }
}

/** A run folder's run id and prefix; anything else is taken for a run id. */
async function runOf(run: string, prefix: string): Promise<{ runId: string; prefix: string }> {
  const dir = resolve(run);
  if (!existsSync(join(dir, 'run.json'))) return { runId: run, prefix };
  const manifest = await readManifest(dir);
  return { runId: manifest.runId, prefix: manifest.prefix };
}

/** The Batch API is the chat provider's server, with its key. */
export function batchApiOf(config: Config): { apiKey: string; baseURL?: string } {
  return {
    apiKey: config.OPENAI_API_KEY ?? '',
    ...(config.OPENAI_BASE_URL ? { baseURL: config.OPENAI_BASE_URL } : {}),
  };
}

/** What a cancel did, and how to run the rest later. */
export function formatCancellation(c: RunCancellation): string {
  const batches = (c.batches ?? []).map((b) => `\n  batch ${b.chunk} ${b.batchId}: ${b.status}`);
  return (
    `run ${c.runId}: cancelled ${c.removed} waiting and ${c.aborting} active cases; ` +
    `resume with: askq eval run --resume ${c.runId}` +
    batches.join('')
  );
}
