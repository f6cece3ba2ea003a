import { PermanentError } from '../shared/errors.ts';
import type { ProviderOptions } from './providers/provider-options.ts';

/** A job asked for a model the worker is not configured to use. */
export class ModelNotAllowedError extends PermanentError {
  override name = 'ModelNotAllowedError';
}

/**
 * The models a job may name (an eval variant's `model`, `--grader`): the chat, fallback and
 * grader models the worker is configured with, plus `extra` (ASKQ_ALLOWED_MODELS). A job
 * cannot make a worker spend on a model its operator did not choose.
 */
export function allowedModels(
  providers: ProviderOptions,
  extra: readonly string[],
  grader?: string,
): Set<string> {
  return new Set(
    [
      providers.llm === 'openai' ? (providers.openai?.chatModel ?? 'gpt-4o-mini') : undefined,
      providers.openai?.fallback?.model,
      providers.grader?.model,
      grader,
      ...extra,
    ].filter((m): m is string => Boolean(m)),
  );
}

/** Throws {@link ModelNotAllowedError} naming the model and what the worker allows. */
export function assertAllowedModel(
  allowed: ReadonlySet<string>,
  model: string,
  what: string,
): void {
  if (allowed.has(model)) return;
  throw new ModelNotAllowedError(
    `${what} model "${model}" is not allowed on this worker (allowed: ${[...allowed].join(', ') || 'none'}; add it to ASKQ_ALLOWED_MODELS)`,
  );
}
