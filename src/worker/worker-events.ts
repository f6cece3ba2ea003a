import type { Attributes } from '@opentelemetry/api';

import type { AnswerResult, DegradedReason, IngestResult } from '../shared/contracts.ts';
import type { BreakerState } from './resilience/breaker-policy.ts';
import type { Dependency } from './resilience/dependency-policies.ts';

/** Which job an event is about. */
export interface JobRef {
  /** The BullMQ queue (`questions`, `ingest`). */
  queue: string;
  jobId: string;
  /** The attempt, counted by askq across retries (1-based). */
  attempt: number;
}

/**
 * The failure classes an outcome reports: the taxonomy, a passed deadline, and a cancel
 * requested by a producer (`DELETE /v1/questions/:id`, `askq eval cancel`).
 */
export type FailureKind =
  'permanent' | 'transient' | 'rate_limited' | 'breaker_open' | 'deadline' | 'cancelled';

/**
 * What an {@link AskqWorker} reports, as a typed event map (listeners get one argument).
 * Metrics, span events and logs subscribe in one place (worker-telemetry.ts); embedders and
 * tests subscribe with `worker.on(...)`. Emitted synchronously inside the attempt, so a
 * listener sees the attempt's active span.
 */
export interface AskqWorkerEvents {
  /** An attempt started (after its state was read and counted). */
  'job:started': [JobRef];
  /** An attempt finished with a result. */
  'job:completed': [JobRef & { result: AnswerResult | IngestResult }];
  /** A transient failure: the job waits `delayMs`, then tries again. */
  'job:retry': [JobRef & { failure: FailureKind; delayMs: number; reason: string; err: Error }];
  /** A rate limit or open breaker: the whole queue pauses `pauseMs`; no attempt is used. */
  'job:paused': [JobRef & { failure: FailureKind; pauseMs: number; reason: string; err: Error }];
  /** The job failed for good (permanent, deadline, attempts spent, invalid data, cancelled). */
  'job:failed': [JobRef & { failure: FailureKind; reason: string; err?: Error }];
  /** The attempt was cancelled (shutdown) and given back; another worker takes the job. */
  'job:cancelled': [JobRef & { reason: string }];
  /** Redis failed while putting the job back: stalled-job recovery will. */
  'job:stranded': [JobRef & { err: Error }];
  /** A pipeline stage finished; `resumed` stages came from an earlier attempt's checkpoint. */
  'job:stage': [JobRef & { stage: 'retrieve' | 'generate'; durationMs: number }];
  /**
   * A fallback answers instead: retrieval was down (ASKQ_RETRIEVAL_FALLBACK), or the chat
   * model was and the extractive answerer answers from the sources (ASKQ_CHAT_FALLBACK).
   */
  'job:degraded': [JobRef & { reason: DegradedReason; err: unknown }];
  /** The answer cache could not be read or written (a miss, never a failure). */
  'cache:error': [JobRef & { operation: 'read' | 'write'; err: unknown }];
  /** A dependency's breaker changed state. */
  'breaker:state': [{ dependency: Dependency; state: BreakerState }];
  /**
   * One call to a model finished (chat or embeddings): GenAI attributes, its duration, and
   * either usage or the error class.
   */
  'model:call': [
    {
      attributes: Attributes;
      seconds: number;
      usage?: { inputTokens: number; outputTokens: number };
      errorType?: string;
    },
  ];
}

/** Something that emits the worker's events (the worker itself). */
export interface WorkerEventSink {
  emit<K extends keyof AskqWorkerEvents>(event: K, ...args: AskqWorkerEvents[K]): boolean;
}
