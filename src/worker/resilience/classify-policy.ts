import { classifyProviderError } from '../../shared/classify-provider-error.ts';
import type { Policy } from './policy.ts';

/**
 * Rejects only with askq's taxonomy: whatever the provider threw is classified
 * (`classifyProviderError`), so the breaker's error filter and the attempt runner see
 * permanent, transient or rate limited.
 */
export function classifyPolicy(dependency: string): Policy {
  return {
    async execute(fn, signal) {
      try {
        return await fn(signal ?? new AbortController().signal);
      } catch (err) {
        throw classifyProviderError(err, dependency);
      }
    },
  };
}
