import {
  AskqClient,
  clientOptionsFromConfig,
  QuestionFailedError,
} from '../producer/askq-client.ts';
import type { Config } from '../shared/config.ts';
import { QUESTIONS_QUEUE } from '../shared/contracts.ts';
import { readJobState } from '../shared/job-state.ts';
import { redisSettingsFrom } from '../shared/redis-settings.ts';
import { EXIT, type ExitCode } from './exit-codes.ts';
import { formatAnswer } from './format-answer.ts';
import { warnWhileNoWorker } from './no-worker-warning.ts';

export interface RunAskOptions {
  wait?: boolean;
  json?: boolean;
  namespace?: string;
  topK?: number;
  /** `--full-sources`: the result carries each source's whole chunk, not an excerpt. */
  fullSources?: boolean;
  /** Seconds to wait with --wait. */
  timeout?: number;
}

/**
 * `askq ask "<question>"`: enqueues; with --wait prints the answer (--json: the return value).
 * Exit code 1 when the question failed, 3 when it failed because its providers stayed down
 * (past its deadline, or out of attempts on transient errors).
 */
export async function runAsk(
  config: Config,
  question: string,
  options: RunAskOptions,
): Promise<ExitCode> {
  const client = new AskqClient(clientOptionsFromConfig(config));
  try {
    const { id } = await client.ask({
      question,
      ...(options.namespace ? { namespace: options.namespace } : {}),
      ...(options.topK ? { topK: options.topK } : {}),
      ...(options.fullSources ? { sourceText: 'full' as const } : {}),
    });
    if (!options.wait) {
      process.stdout.write(options.json ? `${JSON.stringify({ id })}\n` : `${id}\n`);
      return EXIT.ok;
    }
    const stopWarning = warnWhileNoWorker({
      redis: redisSettingsFrom(config),
      prefix: config.ASKQ_PREFIX,
      queueName: QUESTIONS_QUEUE,
    });
    try {
      const result = await client.waitForAnswer(id, {
        timeoutMs: (options.timeout ?? 120) * 1000,
      });
      process.stdout.write(
        options.json ? `${JSON.stringify(result, null, 2)}\n` : `${formatAnswer(result)}\n`,
      );
      return EXIT.ok;
    } catch (err) {
      if (!(err instanceof QuestionFailedError)) throw err;
      process.stderr.write(`askq: ${err.message}\n`);
      return (await failedForInfrastructure(client, id)) ? EXIT.infrastructure : EXIT.failed;
    } finally {
      await stopWarning();
    }
  } finally {
    await client.close();
  }
}

/** Whether a failed question's last error was its providers' (not the question's own). */
async function failedForInfrastructure(client: AskqClient, id: string): Promise<boolean> {
  const job = await client.queue.getJob(id).catch(() => undefined);
  const errorClass = job ? readJobState(job.data).lastErrorClass : undefined;
  return errorClass !== undefined && errorClass !== 'permanent';
}
