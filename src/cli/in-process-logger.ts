import type { Config } from '../shared/config.ts';
import { createLogger, type Logger } from '../shared/logger.ts';

/**
 * The logger of a worker run inside a CLI command (`--with-worker`, the demo): warnings only,
 * to stderr, so the command's own output stays readable, unless LOG_LEVEL asks for more.
 */
export function inProcessWorkerLogger(config: Config): Logger {
  return createLogger({
    level: process.env.LOG_LEVEL ? config.LOG_LEVEL : 'warn',
    name: 'askq-worker',
    destination: process.stderr,
  });
}
