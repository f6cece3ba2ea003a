import type { Config } from '../shared/config.ts';
import { createLogger, type Logger } from '../shared/logger.ts';
import type { AskqWorker, AskqWorkerOptions } from '../worker/askq-worker.ts';

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

/**
 * Starts a worker inside a CLI command, configured from the environment. Imported only when
 * asked for: a command that just enqueues and follows never loads LanceDB or LangChain,
 * which is most of a worker's memory.
 */
export async function startInProcessWorker(
  config: Config,
  overrides: AskqWorkerOptions = {},
): Promise<AskqWorker> {
  const { AskqWorker, workerOptionsFromConfig } = await import('../worker/askq-worker.ts');
  return AskqWorker.start({
    ...workerOptionsFromConfig(config),
    logger: inProcessWorkerLogger(config),
    ...overrides,
  });
}
