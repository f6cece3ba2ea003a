import { type BreakerOptions, BreakerPolicy, type BreakerState } from './breaker-policy.ts';
import { classifyPolicy } from './classify-policy.ts';
import { PausePolicy } from './pause-policy.ts';
import { type Policy, wrap } from './policy.ts';
import { timeoutPolicy } from './timeout-policy.ts';

/** The dependencies a worker guards, one breaker each. */
export type Dependency = 'chat' | 'embeddings' | 'vectorStore';

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
 * Per dependency: the provider's pause, then the breaker, then classification, then the
 * per-call timeout. Classification sits inside the breaker so its error filter sees askq's
 * taxonomy; the pause sits outside so a paused dependency is refused without a breaker call.
 */
export function createDependencyPolicies(options: DependencyPolicyOptions): DependencyPolicies {
  const build = (dependency: Dependency): DependencyPolicy => {
    const breaker = new BreakerPolicy(dependency, {
      ...options,
      onStateChange: (state) => options.onBreakerState?.(dependency, state),
    });
    const policy = wrap(
      new PausePolicy(dependency),
      breaker,
      classifyPolicy(dependency),
      timeoutPolicy(dependency, options.callTimeoutMs),
    );
    return { dependency, breaker, execute: (fn, signal) => policy.execute(fn, signal) };
  };
  return {
    chat: build('chat'),
    embeddings: build('embeddings'),
    vectorStore: build('vectorStore'),
  };
}
