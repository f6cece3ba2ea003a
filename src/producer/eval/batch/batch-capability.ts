import type { Config } from '../../../shared/config.ts';
import { SECOND } from '../../../shared/time.ts';

/**
 * Refuses `--batch` before anything is enqueued when the chat provider cannot run batches:
 * the embedded model (answers in-process), or a server without `GET /v1/batches`.
 */
export async function assertCanBatch(config: Config): Promise<void> {
  // The openai SDK is loaded for batch runs only: an online run never needs it.
  const { BatchApi, BatchUnavailableError } = await import('../../../shared/batch/batch-api.ts');
  if (config.ASKQ_LLM !== 'openai' || !config.OPENAI_API_KEY) {
    throw new BatchUnavailableError(
      '--batch needs an OpenAI-compatible chat model (ASKQ_LLM=openai and OPENAI_API_KEY): ' +
        'the embedded model answers in-process and has no Batch API',
    );
  }
  const api = new BatchApi({
    apiKey: config.OPENAI_API_KEY,
    ...(config.OPENAI_BASE_URL ? { baseURL: config.OPENAI_BASE_URL } : {}),
    timeoutMs: 15 * SECOND,
  });
  try {
    await api.assertAvailable();
  } catch (err) {
    if (!(err instanceof BatchUnavailableError)) throw err;
    throw new BatchUnavailableError(
      `--batch cannot run against ${config.OPENAI_BASE_URL ?? 'the OpenAI API'}: ${err.message}`,
      { cause: err },
    );
  }
}
