import { classifyProviderError } from '../../shared/classify-provider-error.ts';
import type { AskqError } from '../../shared/errors.ts';
import type { Policy } from './policy.ts';

/**
 * Rejects only with askq's taxonomy: whatever the provider threw is classified
 * (`classifyProviderError`), so the breaker's error filter and the attempt runner see
 * permanent, transient or rate limited. `onClassified` sees each error as soon as it is known
 * (the provider pause records a 429 there).
 */
export function classifyPolicy(
  dependency: string,
  onClassified?: (err: AskqError) => void,
): Policy {
  const classify = (err: unknown): never => {
    const classified = classifyProviderError(err, dependency);
    onClassified?.(classified);
    throw classified;
  };
  return {
    // Not async: one promise per call (the provider's, chained) instead of two.
    execute(fn, signal) {
      let call;
      try {
        call = fn(signal ?? new AbortController().signal);
      } catch (err) {
        call = Promise.reject(err);
      }
      return call.catch(classify);
    },
  };
}
