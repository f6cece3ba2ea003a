import { type Config, loadConfig } from '../../src/shared/config.ts';
import { testRedisEnv, testRedisMode, uniquePrefix } from './redis.ts';

/**
 * A Config for tests: the test Redis in this project's mode (unless the test names a
 * REDIS_URL of its own), local providers, fast backoff, and whatever the test
 * overrides, parsed by the real schema (so a test can't build an impossible config).
 */
export function testConfig(overrides: Record<string, string> = {}): Config {
  return loadConfig({
    ...('REDIS_URL' in overrides ? {} : testRedisEnv()),
    // A cluster refuses the default prefix (no hash tag): a test that names none gets its own.
    ...(testRedisMode() === 'cluster' ? { ASKQ_PREFIX: uniquePrefix() } : {}),
    ASKQ_BACKOFF_MS: '20',
    ASKQ_BACKOFF_MAX_MS: '100',
    LOG_LEVEL: 'silent',
    ...overrides,
  });
}
