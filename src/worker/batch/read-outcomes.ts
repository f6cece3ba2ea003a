import type { Batch, BatchApi, BatchResultLine } from '../../shared/batch/batch-api.ts';
import type { BatchFallback, BatchOutcome } from '../../shared/batch/batch-lane.ts';

export interface ReadOutcomesOptions {
  /** Submission to collection, ms. */
  waitedMs: number;
  /** Batches each request (same order as the ids) was already sent in, this one excluded. */
  tries: number[];
  maxTries: number;
  fallback: BatchFallback;
  /** The run was cancelled: nothing goes to a later batch or online. */
  cancelled: boolean;
}

/** A finished batch's verdict per request: outcomes now, and requests for a later batch. */
export interface BatchVerdict {
  outcomes: Map<string, BatchOutcome>;
  retry: string[];
}

interface ChatCompletionBody {
  model?: string;
  choices?: { message?: { content?: string | null }; finish_reason?: string | null }[];
  usage?: { prompt_tokens?: number; completion_tokens?: number };
}

/**
 * Accounts for every request of a finished batch, from its output and error files:
 *
 * - a 200 line is an answer;
 * - a 429 or 5xx line, a request the batch never reached (expired, cancelled) → the fallback:
 *   a later batch (up to `maxTries` batches), or `online`;
 * - any other 4xx line ends the case in error with the provider's message;
 * - a batch that `failed` (its file was refused) ends every case with the batch's errors.
 */
export async function readOutcomes(
  api: BatchApi,
  batch: Batch,
  ids: string[],
  options: ReadOutcomesOptions,
): Promise<BatchVerdict> {
  const lines = new Map<string, BatchResultLine>();
  for (const fileId of [batch.error_file_id, batch.output_file_id]) {
    if (!fileId) continue;
    for (const line of await api.resultLines(fileId)) lines.set(line.custom_id, line);
  }
  const outcomes = new Map<string, BatchOutcome>();
  const retry: string[] = [];
  const again = (id: string, i: number, why: string) => {
    const tried = (options.tries[i] ?? 0) + 1;
    if (options.cancelled) outcomes.set(id, { kind: 'error', message: `run cancelled (${why})` });
    else if (options.fallback === 'online') outcomes.set(id, { kind: 'online', reason: why });
    else if (tried >= options.maxTries) {
      outcomes.set(id, {
        kind: 'error',
        message: `no answer after ${tried} batches: ${why}`,
        batchId: batch.id,
      });
    } else retry.push(id);
  };
  ids.forEach((id, i) => {
    const line = lines.get(id);
    const status = line?.response?.status_code;
    if (status === 200) {
      outcomes.set(id, answerOf(line!.response!.body as ChatCompletionBody, batch.id, options));
    } else if (status !== undefined) {
      const message = `${status} ${providerMessage(line!.response!.body) ?? 'error'}`;
      if (status === 429 || status === 408 || status >= 500) again(id, i, message);
      else outcomes.set(id, { kind: 'error', message, batchId: batch.id });
    } else if (batch.status === 'failed') {
      const why = batch.errors?.data?.map((e) => e.message).join('; ') || 'no reason given';
      outcomes.set(id, { kind: 'error', message: `batch failed: ${why}`, batchId: batch.id });
    } else {
      again(id, i, line?.error?.message ?? `batch ${batch.status} before answering`);
    }
  });
  return { outcomes, retry };
}

function answerOf(
  body: ChatCompletionBody,
  batchId: string,
  options: ReadOutcomesOptions,
): BatchOutcome {
  const choice = body.choices?.[0];
  const text = choice?.message?.content;
  if (typeof text !== 'string') {
    return { kind: 'error', message: 'batch line has no answer text', batchId };
  }
  return {
    kind: 'answer',
    text,
    model: body.model ?? '',
    usage: {
      inputTokens: body.usage?.prompt_tokens ?? 0,
      outputTokens: body.usage?.completion_tokens ?? 0,
    },
    ...(choice?.finish_reason ? { finishReason: choice.finish_reason } : {}),
    batchId,
    waitedMs: Math.max(0, options.waitedMs),
  };
}

/** `error.message` of an OpenAI error body. */
function providerMessage(body: unknown): string | undefined {
  const error = (body as { error?: { message?: unknown } } | undefined)?.error;
  return typeof error?.message === 'string' ? error.message : undefined;
}
