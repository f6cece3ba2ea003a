import { trace } from '@opentelemetry/api';
import { type Job, UnrecoverableError } from 'bullmq';

import {
  answerJobDataLenientSchema,
  type AnswerResult,
  formatIssues,
} from '../../shared/contracts.ts';
import { TransientError } from '../../shared/errors.ts';
import { readJobState } from '../../shared/job-state.ts';
import type { Logger } from '../../shared/logger.ts';
import { askqMetrics } from '../../shared/telemetry/metrics.ts';
import {
  activeTraceIds,
  addActiveSpanEvent,
  safeSetAttributes,
} from '../../shared/telemetry/spans.ts';
import type { AnswerCache } from '../answer-cache.ts';
import { answerQuestion } from '../pipeline/answer-question.ts';
import { guardPorts, type Guards, type Ports } from '../resilience/guarded-ports.ts';
import {
  type RetryPolicy,
  settleFailure,
  type SettleOutcome,
} from '../resilience/settle-failure.ts';
import type { TokenBudget } from '../resilience/token-budget.ts';

export interface AnswerProcessorDeps {
  ports: Ports;
  guards: Guards;
  policy: RetryPolicy;
  logger: Logger;
  /** Namespace when the job names none. */
  defaultNamespace: string;
  /** topK when the job names none. */
  defaultTopK: number;
  /** Retrieval fallback mode (ASKQ_RETRIEVAL_FALLBACK). @defaultValue retry */
  retrievalFallback?: 'retry' | 'degrade';
  /** Pauses the questions queue for every worker (rate limits, open breakers). */
  pauseQueue: (ms: number) => Promise<void>;
  /** Record question and answer text on spans (ASKQ_CAPTURE_CONTENT). @defaultValue false */
  captureContent?: boolean;
  /** The answer cache (ASKQ_CACHE=on). @defaultValue none */
  cache?: AnswerCache;
  /** Tokens-per-minute budget (ASKQ_LLM_TPM). @defaultValue none */
  tokenBudget?: TokenBudget;
}

/**
 * The `answer` job: validate the data (a foreign producer's malformed job fails at once with
 * the reason), resume from the job's checkpoint, run the pipeline, map failures to BullMQ.
 */
export function createAnswerProcessor(deps: AnswerProcessorDeps) {
  return async (job: Job, token?: string, signal?: AbortSignal): Promise<AnswerResult> => {
    const state = readJobState(job.data);
    state.attempt += 1;
    state.firstStartedAt ??= job.processedOn ?? Date.now();
    const logger = deps.logger.child({ job_id: job.id, attempt: state.attempt });
    const metrics = askqMetrics();
    // The consumer span bullmq-otel opened for this attempt.
    safeSetAttributes(trace.getActiveSpan(), { 'askq.attempt': state.attempt });

    const parsed = answerJobDataLenientSchema.safeParse(job.data);
    if (!parsed.success) {
      const reason = `invalid job data: ${formatIssues(parsed.error)}`;
      logger.warn({ failure: 'permanent' }, reason);
      metrics.jobs('failed', { 'error.type': 'permanent' });
      throw new UnrecoverableError(reason);
    }
    const data = parsed.data;
    const ports = guardPorts(deps.ports, deps.guards, {
      ...(signal ? { signal } : {}),
      captureContent: deps.captureContent ?? false,
      ...(deps.tokenBudget ? { tokenBudget: deps.tokenBudget } : {}),
    });
    const settle = {
      job,
      token,
      state,
      policy: deps.policy,
      logger,
      pauseQueue: deps.pauseQueue,
      onOutcome: recordOutcome,
    };
    const { deadlineMs } = deps.policy;
    if (deadlineMs !== undefined && Date.now() - state.firstStartedAt >= deadlineMs) {
      state.attempt -= 1; // this attempt never ran
      const last = state.lastError ?? 'no attempt finished in time';
      return settleFailure(new TransientError(last), settle);
    }
    const namespace = data.namespace ?? deps.defaultNamespace;
    const topK = data.topK ?? deps.defaultTopK;
    const cacheKey = {
      question: data.question,
      namespace,
      topK,
      chatModel: `${deps.ports.chat.provider}:${deps.ports.chat.model}`,
      embeddingsModel: `${deps.ports.embeddings.provider}:${deps.ports.embeddings.model}`,
      store: `${deps.ports.store.provider}:${deps.ports.store.indexName ?? ''}`,
    };
    try {
      // A cache hit reuses retrieval and generation; scoring (the job's own expectations) runs.
      // A cache that cannot be read is a miss, never a failed job.
      const cached = deps.cache
        ? await deps.cache.lookup(cacheKey).catch((err: unknown) => {
            logger.warn({ err }, 'answer cache read failed');
            return undefined;
          })
        : undefined;
      const hit = cached?.answer;
      const out = await answerQuestion(
        {
          question: data.question,
          namespace,
          topK,
          ...(data.expected || data.expectedSources || data.assert
            ? {
                scoring: {
                  expected: data.expected,
                  expectedSources: data.expectedSources,
                  assert: data.assert,
                },
              }
            : {}),
        },
        ports,
        hit
          ? {
              retrieval: { sources: hit.sources, retrieveMs: 0 },
              generation: { answer: hit.answer, model: hit.model, usage: hit.usage, generateMs: 0 },
            }
          : { ...(state.retrieval ? { retrieval: state.retrieval } : {}) },
        {
          // Kept in memory; settleFailure writes it with the job's state when a later stage
          // fails, so the retry resumes there. (One Redis write per job saved; after a crash
          // the re-run retrieves again, which costs time, not correctness.)
          checkpoint: async (cp) => {
            if (cp.retrieval) state.retrieval = cp.retrieval;
          },
          onDegraded: (err) => logger.warn({ err }, 'retrieval down: answering without context'),
        },
        {
          mode: deps.retrievalFallback ?? 'retry',
          lastAttempt: state.attempt >= deps.policy.attempts,
        },
      );
      const finishedAt = Date.now();
      const result: AnswerResult = {
        answer: out.answer,
        sources: out.sources,
        degraded: out.degraded,
        model: out.model,
        usage: out.usage,
        timings: {
          queueMs: Math.max(0, state.firstStartedAt - job.timestamp),
          retrieveMs: round(out.retrieveMs),
          generateMs: round(out.generateMs),
          totalMs: Math.max(0, finishedAt - job.timestamp),
        },
        attempts: state.attempt,
        traceId: activeTraceIds()?.traceId ?? '',
        ...(hit ? { cached: true } : {}),
        ...(out.scores ? { scores: out.scores } : {}),
      };
      logger.info(
        {
          timings: result.timings,
          usage: result.usage,
          sources: result.sources.length,
          resumed: out.resumed,
        },
        'answered',
      );
      // Not when retrieval came from an earlier attempt: the corpus may have changed since, and
      // the answer would be stored under the new version.
      if (deps.cache && cached && !hit && !out.degraded && !out.resumed) {
        const { answer, sources, model, usage } = out;
        await deps.cache
          .store(cacheKey, cached.corpus, { answer, sources, model, usage })
          .catch((err: unknown) => logger.warn({ err }, 'answer cache write failed'));
      }
      metrics.jobs('completed', { 'askq.degraded': out.degraded, 'askq.cached': Boolean(hit) });
      if (!out.resumed) metrics.stageDuration('retrieve', out.retrieveMs / 1000);
      metrics.stageDuration('generate', out.generateMs / 1000);
      return result;
    } catch (err) {
      return settleFailure(err, settle);
    }
  };
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}

/** Retries and pauses as span events on the attempt's span, and as job metrics. */
function recordOutcome(outcome: SettleOutcome): void {
  const metrics = askqMetrics();
  switch (outcome.action) {
    case 'failed':
      metrics.jobs('failed', { 'error.type': outcome.failure });
      addActiveSpanEvent('askq.job.failed', { 'error.type': outcome.failure });
      break;
    case 'retry':
      metrics.jobs('retried', { 'error.type': outcome.failure });
      addActiveSpanEvent('askq.job.retry', {
        'error.type': outcome.failure,
        'askq.retry.delay_ms': outcome.delayMs,
      });
      break;
    case 'paused':
      metrics.jobs('paused', { 'error.type': outcome.failure });
      addActiveSpanEvent('askq.queue.paused', {
        'error.type': outcome.failure,
        'askq.pause_ms': outcome.pauseMs,
      });
      break;
  }
}
