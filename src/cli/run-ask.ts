import { AskqClient, clientOptionsFromConfig } from '../producer/askq-client.ts';
import type { Config } from '../shared/config.ts';
import { formatAnswer } from './format-answer.ts';

export interface RunAskOptions {
  wait?: boolean;
  json?: boolean;
  namespace?: string;
  topK?: number;
  /** Seconds to wait with --wait. */
  timeout?: number;
}

/** `askq ask "<question>"`: enqueues; with --wait prints the answer (--json: the return value). */
export async function runAsk(
  config: Config,
  question: string,
  options: RunAskOptions,
): Promise<number> {
  const client = new AskqClient(clientOptionsFromConfig(config));
  try {
    const { id } = await client.ask({
      question,
      ...(options.namespace ? { namespace: options.namespace } : {}),
      ...(options.topK ? { topK: options.topK } : {}),
    });
    if (!options.wait && !options.json) {
      process.stdout.write(`${id}\n`);
      return 0;
    }
    if (!options.wait) {
      process.stdout.write(`${JSON.stringify({ id })}\n`);
      return 0;
    }
    const result = await client.waitForAnswer(id, { timeoutMs: (options.timeout ?? 120) * 1000 });
    process.stdout.write(
      options.json ? `${JSON.stringify(result, null, 2)}\n` : `${formatAnswer(result)}\n`,
    );
    return 0;
  } finally {
    await client.close();
  }
}
