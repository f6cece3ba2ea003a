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
  /**
   * Whether a call made now is refused before it leaves: the provider's pause is on (and not
   * about to end), or the breaker is open (half-open may let a trial through, so it does not
   * count). A caller about to book a turn under the shared model-call limits asks first, so
   * a call that never reaches the provider spends none of every worker's budget.
   */
  refuses(): boolean;
}

export type DependencyPolicies = Record<Dependency, DependencyPolicy>;

export interface DependencyPolicyOptions extends Omit<BreakerOptions, 'onStateChange'> {
  /** Timeout of one call, response body included. */
  callTimeoutMs: number;
  /** Called on every breaker state change. */
  onBreakerState?: (dependency: Dependency, state: BreakerState) => void;
}

/**
 * A pause this close to its end is not reported by `refuses()`. From that check to the pause
 * gate a call runs synchronously, but a stall there (a GC) must not carry it past the pause's
 * end: a call that gets through must have booked its turn under the limits.
 */
const PAUSE_ENDING_MS = 100;

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
    return {
      dependency,
      breaker,
      execute: (fn, signal) => policy.execute(fn, signal),
      refuses: () => pause.pausedForMs() > PAUSE_ENDING_MS || breaker.state === 'open',
    };
  };
  return {
    chat: build('chat'),
    embeddings: build('embeddings'),
    vectorStore: build('vectorStore'),
    grader: build('grader'),
  };
}
