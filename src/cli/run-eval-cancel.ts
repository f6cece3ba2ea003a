import { cancelRun, type RunCancellation } from '../producer/eval/index.ts';
import type { Config } from '../shared/config.ts';
import { createRedisConnection, waitUntilReady } from '../shared/redis.ts';

/** `askq eval cancel <runId>`: cancels the run's unfinished cases and says how to resume. */
export async function runEvalCancel(
  config: Config,
  runId: string,
  options: { json?: boolean },
): Promise<number> {
  const connection = createRedisConnection(config.REDIS_URL, 'producer');
  try {
    await waitUntilReady(connection);
    const outcome = await cancelRun({ connection, prefix: config.ASKQ_PREFIX, runId });
    process.stdout.write(
      options.json ? `${JSON.stringify(outcome)}\n` : `${formatCancellation(outcome)}\n`,
    );
    return 0;
  } finally {
    await connection.quit().catch(() => connection.disconnect());
  }
}

/** What a cancel did, and how to run the rest later. */
export function formatCancellation(c: RunCancellation): string {
  return (
    `run ${c.runId}: cancelled ${c.removed} waiting and ${c.aborting} active cases; ` +
    `resume with: askq eval run --resume ${c.runId}`
  );
}
