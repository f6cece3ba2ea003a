import { warnIfUnbounded } from '../producer/admission.ts';
import type { Config } from '../shared/config.ts';
import { createLogger } from '../shared/logger.ts';
import { redisSettingsFrom } from '../shared/redis-settings.ts';
import { AskqWorker, workerOptionsFromConfig } from '../worker/askq-worker.ts';
import { runUntilSignal } from './run-until-signal.ts';

/**
 * `askq worker`: runs until SIGTERM/SIGINT, then stops taking jobs, lets active ones finish
 * within the grace period and exits 0. A second signal exits at once.
 */
export async function runWorker(config: Config, options: { concurrency?: number }): Promise<void> {
  const logger = createLogger({ level: config.LOG_LEVEL, name: 'askq-worker' });
  const worker = await AskqWorker.start({
    ...workerOptionsFromConfig(config),
    logger,
    ...(options.concurrency ? { concurrency: options.concurrency } : {}),
  });
  await warnIfUnbounded(redisSettingsFrom(config), (message) => logger.warn(message));
  await runUntilSignal(logger, () => worker.close(config.ASKQ_SHUTDOWN_GRACE_MS));
}
