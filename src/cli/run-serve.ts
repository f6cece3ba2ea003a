import { apiServerOptionsFromConfig, createApiServer } from '../producer/http/create-api-server.ts';
import { type Config, ConfigError } from '../shared/config.ts';
import { createLogger } from '../shared/logger.ts';
import { describeRedis, redisSettingsFrom } from '../shared/redis-settings.ts';
import { runUntilSignal } from './run-until-signal.ts';

/** Exit code of a configuration the API refuses (no keys and no explicit anonymous mode). */
const EXIT_INVALID = 2;

/**
 * `askq serve`: the HTTP API and Bull Board until SIGTERM/SIGINT, then closes the server
 * (in-flight requests finish, long polls are released), the queues and Redis, and exits 0.
 * Loads no worker code.
 */
export async function runServe(config: Config, options: { port?: number }): Promise<number> {
  const logger = createLogger({ level: config.LOG_LEVEL, name: 'askq-api' });
  let server;
  try {
    server = await createApiServer({ ...apiServerOptionsFromConfig(config), logger });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      return EXIT_INVALID;
    }
    throw err;
  }
  const address = await server.listen(options.port);
  logger.info(
    {
      address,
      redis: describeRedis(redisSettingsFrom(config)),
      prefix: config.ASKQ_PREFIX,
      keys: config.ASKQ_API_KEYS.length,
      adminKeys: config.ASKQ_ADMIN_KEYS.length,
      anonymous: config.ASKQ_API_KEYS.length === 0,
      board: Boolean(config.ASKQ_BOARD_USER),
    },
    'askq API listening',
  );
  await runUntilSignal(logger, () => server.close());
  return 0;
}
