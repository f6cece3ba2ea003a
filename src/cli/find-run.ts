import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

import { locateRun, runDir } from '../producer/eval/index.ts';
import type { Config } from '../shared/config.ts';
import { createRedisConnection, redisAnswers, waitUntilReady } from '../shared/redis.ts';
import { redisSettingsFrom } from '../shared/redis-settings.ts';

/**
 * A run's folder from a folder path or run id: locally first, then where the run recorded its
 * folder in Redis (a run written with `--out` elsewhere). Redis is only asked when the id is
 * not found on disk, so `eval report` and `eval compare` of local runs work with Redis down.
 */
export async function findRun(config: Config, run: string): Promise<string> {
  if ([resolve(run), runDir(run)].some((d) => existsSync(join(d, 'run.json'))))
    return locateRun(run);
  const settings = redisSettingsFrom(config);
  if (!(await redisAnswers(settings))) return locateRun(run);
  const redis = createRedisConnection(settings, 'producer');
  try {
    await waitUntilReady(redis);
    return await locateRun(run, { redis, prefix: config.ASKQ_PREFIX });
  } finally {
    redis.disconnect();
  }
}
