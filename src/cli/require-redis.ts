import type { Config } from '../shared/config.ts';
import { RedisUnavailableError } from '../shared/errors.ts';
import { redisAnswers } from '../shared/redis.ts';
import { describeRedis, redisSettingsFrom } from '../shared/redis-settings.ts';

/**
 * Stops a command that needs Redis at once (exit code 3) when none answers (REDIS_URL, the
 * cluster nodes or the sentinels),
 * instead of BullMQ waiting for a connection forever.
 */
export async function requireRedis(config: Config): Promise<Config> {
  const redis = redisSettingsFrom(config);
  if (await redisAnswers(redis)) return config;
  throw new RedisUnavailableError(
    redis.mode === 'standalone'
      ? `Redis is unreachable at ${describeRedis(redis)}; start one (redis-server) or set REDIS_URL`
      : `Redis is unreachable at ${describeRedis(redis)}`,
  );
}
