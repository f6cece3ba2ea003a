import { type Config, redactUrl } from '../shared/config.ts';
import { RedisUnavailableError } from '../shared/errors.ts';
import { redisAnswers } from '../shared/redis.ts';

/**
 * Stops a command that needs Redis at once (exit code 3) when none answers at REDIS_URL,
 * instead of BullMQ waiting for a connection forever.
 */
export async function requireRedis(config: Config): Promise<Config> {
  if (await redisAnswers(config.REDIS_URL)) return config;
  throw new RedisUnavailableError(
    `Redis is unreachable at ${redactUrl(config.REDIS_URL)}; start one (redis-server) or set REDIS_URL`,
  );
}
