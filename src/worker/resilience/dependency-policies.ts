import { type BreakerOptions, BreakerPolicy, type BreakerState } from './breaker-policy.ts';
import { classifyPolicy } from './classify-policy.ts';
import { PausePolicy } from './pause-policy.ts';
import { type Policy, wrap } from './policy.ts';
import { timeoutPolicy } from './timeout-policy.ts';

/** The dependencies a worker guards, one breaker each. */
export type Dependency = 'chat' | 'embeddings' | 'vectorStore' | 'grader';

/** One dependency's composed policy and its breaker (for its state and reset time). */
export interface DependencyPolicy extends Policy {
  readonly dependency: Dependency;
  readonly breaker: BreakerPolicy;
}

export type DependencyPolicies = Record<Dependency, DependencyPolicy>;

export interface DependencyPolicyOptions extends Omit<BreakerOptions, 'onStateChange'> {
  /** Timeout of one call, response body included. */
  callTimeoutMs: number;
  /** Called on every breaker state change. */
  onBreakerState?: (dependency: Dependency, state: BreakerState) => void;
}

/**
 * Per dependency: the provider's pause, then the breaker, then the per-call timeout, then
 * classification. The pause gate sits outside so a paused dependency is refused without a
 * breaker call; classification sits innermost, on the provider's own promise, so the breaker's
 * error filter sees askq's taxonomy and a 429 starts the pause the moment it arrives. The
 * timeout maps its own abort (and the job's) over whatever classification made of it.
 */
export function createDependencyPolicies(options: DependencyPolicyOptions): DependencyPolicies {
  const build = (dependency: Dependency): DependencyPolicy => {
    const breaker = new BreakerPolicy(dependency, {
      ...options,
      onStateChange: (state) => options.onBreakerState?.(dependency, state),
    });
    const pause = new PausePolicy(dependency);
    const policy = wrap(
      pause,
      breaker,
      timeoutPolicy(dependency, options.callTimeoutMs),
      classifyPolicy(dependency, (err) => pause.record(err)),
    );
    return { dependency, breaker, execute: (fn, signal) => policy.execute(fn, signal) };
  };
  return {
    chat: build('chat'),
    embeddings: build('embeddings'),
    vectorStore: build('vectorStore'),
    grader: build('grader'),
  };
}
