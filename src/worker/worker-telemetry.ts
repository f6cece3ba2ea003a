import type { EventEmitter } from 'node:events';

import { trace } from '@opentelemetry/api';

import { QUESTIONS_QUEUE } from '../shared/contracts.ts';
import type { Logger } from '../shared/logger.ts';
import {
  askqMetrics,
  type CountableQueue,
  observeQueueDepth,
} from '../shared/telemetry/metrics.ts';
import { addActiveSpanEvent, safeSetAttributes } from '../shared/telemetry/spans.ts';
import type { AskqWorkerEvents, JobRef } from './worker-events.ts';

/**
 * Turns the worker's events into metrics, span events and logs: the one place the worker
 * calls the metrics API. Listeners run inside the attempt (events are synchronous), so span
 * events land on the attempt's consumer span. Returns a function that detaches everything.
 */
export function attachTelemetry(
  events: EventEmitter<AskqWorkerEvents>,
  logger: Logger,
  queues: CountableQueue[],
): () => void {
  const metrics = askqMetrics();
  const log = (ref: JobRef) => logger.child({ job_id: ref.jobId, attempt: ref.attempt });
  const listeners: { [K in keyof AskqWorkerEvents]?: (...args: AskqWorkerEvents[K]) => void } = {
    'job:started': (e) => {
      // The consumer span bullmq-otel opened for this attempt.
      safeSetAttributes(trace.getActiveSpan(), { 'askq.attempt': e.attempt });
    },
    'job:completed': (e) => {
      if (e.queue !== QUESTIONS_QUEUE || !('answer' in e.result)) return;
      metrics.jobs('completed', {
        'askq.degraded': e.result.degraded,
        'askq.cached': e.result.cached ?? false,
      });
      const reason = e.result.degradedReason;
      if (reason) {
        metrics.degraded(reason);
        safeSetAttributes(trace.getActiveSpan(), { 'askq.degraded_reason': reason });
      }
    },
    'job:stage': (e) => metrics.stageDuration(e.stage, e.durationMs / 1000),
    'job:failed': (e) => {
      log(e).warn({ ...(e.err ? { err: e.err } : {}), failure: e.failure }, e.reason);
      metrics.jobs('failed', { 'error.type': e.failure });
      addActiveSpanEvent('askq.job.failed', { 'error.type': e.failure });
    },
    'job:retry': (e) => {
      log(e).warn(
        { err: e.err, failure: e.failure, retryInMs: e.delayMs },
        `attempt ${e.attempt} failed (${e.failure}), retrying in ${e.delayMs} ms: ${e.reason}`,
      );
      metrics.jobs('retried', { 'error.type': e.failure });
      addActiveSpanEvent('askq.job.retry', {
        'error.type': e.failure,
        'askq.retry.delay_ms': e.delayMs,
      });
    },
    'job:paused': (e) => {
      log(e).warn(
        { err: e.err, failure: e.failure, pauseMs: e.pauseMs },
        `queue paused for ${e.pauseMs} ms: ${e.reason}`,
      );
      metrics.jobs('paused', { 'error.type': e.failure });
      addActiveSpanEvent('askq.queue.paused', {
        'error.type': e.failure,
        'askq.pause_ms': e.pauseMs,
      });
    },
    'job:cancelled': (e) => log(e).info({ reason: e.reason }, 'attempt cancelled; job put back'),
    'job:stranded': (e) =>
      log(e).error({ err: e.err }, 'could not reschedule the job; left to stalled-job recovery'),
    'job:degraded': (e) => log(e).warn({ err: e.err }, 'retrieval down: answering without context'),
    'cache:error': (e) => log(e).warn({ err: e.err }, `answer cache ${e.operation} failed`),
    'breaker:state': ({ dependency, state }) => {
      const level = state === 'open' ? 'warn' : 'info';
      logger[level]({ dependency, breaker: state }, `${dependency} breaker ${state}`);
      metrics.breakerState(dependency, state);
      addActiveSpanEvent(`askq.breaker.${state}`, { 'askq.dependency': dependency });
    },
    'model:call': (e) => {
      metrics.operationDuration(e.seconds, {
        ...e.attributes,
        ...(e.errorType ? { 'error.type': e.errorType } : {}),
      });
      if (e.usage) {
        metrics.tokenUsage(e.usage.inputTokens, { ...e.attributes, 'gen_ai.token.type': 'input' });
        metrics.tokenUsage(e.usage.outputTokens, {
          ...e.attributes,
          'gen_ai.token.type': 'output',
        });
      }
    },
  };
  const entries = Object.entries(listeners) as [keyof AskqWorkerEvents, (...a: never[]) => void][];
  for (const [event, listener] of entries) events.on(event, listener as never);
  const stopObserving = observeQueueDepth(queues);
  return () => {
    for (const [event, listener] of entries) events.off(event, listener as never);
    stopObserving();
  };
}
