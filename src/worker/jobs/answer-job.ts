import {
  type AnswerJobData,
  answerJobDataLenientSchema,
  type AnswerResult,
  type DegradedReason,
  QUESTIONS_QUEUE,
} from '../../shared/contracts.ts';
import { BreakerOpenError, PermanentError } from '../../shared/errors.ts';
import type { ChatPort, GraderPort } from '../../shared/ports.ts';
import { GraderMissingError } from '../../shared/scoring/grader-errors.ts';
import { activeTraceIds } from '../../shared/telemetry/spans.ts';
import { assertAllowedModel } from '../allowed-models.ts';
import type { AnswerCache } from '../answer-cache.ts';
import { bindGrader } from '../attempt/bind-signal.ts';
import type { JobHelpers, JobKind } from '../attempt/job-kind.ts';
import { answerQuestion } from '../pipeline/answer-question.ts';
import { graderProblem } from '../pipeline/score.ts';
import { chatFallbackReason, isChatBlocked } from './chat-fallback.ts';
import { sourcesForResult } from './source-excerpts.ts';

export interface AnswerJobOptions {
  /** Namespace when the job names none. */
  defaultNamespace: string;
  /** topK when the job names none. */
  defaultTopK: number;
  /** Characters of each source's text in the result, unless the job asks for `full`. */
  sourceTextChars: number;
  /** `degrade`: answer without context when retrieval is down. */
  retrievalFallback: 'retry' | 'degrade';
  /** The answer cache (ASKQ_CACHE=on). @defaultValue none */
  cache?: AnswerCache;
  /** Answer from the sources when the chat model is down (ASKQ_CHAT_FALLBACK). @defaultValue none */
  chatFallback?: {
    /** The extractive answerer. */
    chat: ChatPort;
    /** How long an open breaker or rate limit may hold a job up first. */
    afterMs: number;
  };
  /** Models a job's variant may name (src/worker/allowed-models.ts). @defaultValue any */
  allowedModels?: ReadonlySet<string>;
  /**
   * The grader (behind its policy) for a job's `grader` model; asked only when the job names
   * one. @defaultValue the ports' grader
   */
  graderFor?: (model: string | undefined) => Promise<GraderPort | undefined>;
}

/**
 * The `answer` job: look the question up in the answer cache, run the pipeline (resuming
 * after retrieval when an earlier attempt completed it), store a fresh answer, and build the
 * job's result. Failures are the attempt runner's to settle.
 */
export function answerJob(options: AnswerJobOptions): JobKind<AnswerJobData, AnswerResult> {
  return {
    queue: QUESTIONS_QUEUE,
    dataName: 'job data',
    schema: answerJobDataLenientSchema,
    run: (data, helpers) => answer(data, helpers, options),
  };
}

async function answer(
  data: AnswerJobData,
  h: JobHelpers,
  options: AnswerJobOptions,
): Promise<AnswerResult> {
  const variant = data.variant ?? {};
  const namespace = variant.namespace ?? data.namespace ?? options.defaultNamespace;
  const topK = variant.topK ?? data.topK ?? options.defaultTopK;
  const { model, temperature, systemPrompt } = variant;
  const chatSettings = {
    ...(model === undefined ? {} : { model }),
    ...(temperature === undefined ? {} : { temperature }),
    ...(systemPrompt === undefined ? {} : { systemPrompt }),
  };
  if (model !== undefined && options.allowedModels) {
    assertAllowedModel(options.allowedModels, model, 'variant');
  }
  // A job naming no grader model has the configured one, already among its ports.
  const chosen =
    data.grader !== undefined && options.graderFor
      ? await options.graderFor(data.grader)
      : undefined;
  const grader = chosen ? bindGrader(chosen, h.signal) : h.ports.grader;
  // Before anything is paid for: a case that needs a grader cannot be scored without one.
  const noGrader = graderProblem(data, grader !== undefined);
  if (noGrader) throw new GraderMissingError(noGrader);
  const ports = { ...h.ports, grader };
  const { chat, embeddings, store } = ports;
  // Built only with a cache on: the model's identity is serialised for it.
  const cacheKey = options.cache && {
    question: data.question,
    namespace,
    topK,
    // Model, temperature, max tokens, server and prompt: everything that changes an answer.
    chatModel: chat.identity?.(chatSettings) ?? `${chat.provider}:${chat.model}`,
    embeddingsModel: `${embeddings.provider}:${embeddings.model}`,
    store: `${store.provider}:${store.indexName ?? ''}`,
  };
  // A cache hit reuses retrieval and generation; scoring (the job's own expectations) runs.
  // A cache that cannot be read is a miss, never a failed job.
  const cached =
    options.cache && cacheKey
      ? await options.cache.lookup(cacheKey).catch((err: unknown) => {
          h.emit('cache:error', { operation: 'read', err });
          return undefined;
        })
      : undefined;
  const hit = cached?.answer;
  const out = await answerQuestion(
    {
      question: data.question,
      namespace,
      topK,
      ...(Object.keys(chatSettings).length > 0 ? { chatSettings } : {}),
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
    {
      ...(hit
        ? {
            cached: {
              retrieval: { sources: hit.sources, retrieveMs: 0 },
              generation: { answer: hit.answer, model: hit.model, usage: hit.usage, generateMs: 0 },
            },
          }
        : {}),
      ...(h.checkpoints.retrieval ? { resume: h.checkpoints.retrieval } : {}),
      ...(h.checkpoints.generation ? { resumeGeneration: h.checkpoints.generation } : {}),
      checkpoint: (retrieval) => h.checkpoint('retrieval', retrieval),
      checkpointGeneration: ({ answer, model, usage, generateMs }) =>
        h.checkpoint('generation', { answer, model, usage, generateMs }),
      onDegraded: (err) => h.emit('job:degraded', { reason: 'retrieval_unavailable', err }),
      fallback: {
        mode: data.degrade === false ? 'retry' : options.retrievalFallback,
        lastAttempt: h.job.lastAttempt,
      },
      ...(options.chatFallback
        ? {
            chatFallback: {
              chat: options.chatFallback.chat,
              reasonFor: chatFailureReason(h, options.chatFallback.afterMs, data.degrade !== false),
            },
          }
        : {}),
    },
  );
  const result: AnswerResult = {
    answer: out.answer,
    sources: sourcesForResult(out.sources, data.sourceText, options.sourceTextChars),
    degraded: out.degraded,
    ...(out.degradedReason ? { degradedReason: out.degradedReason } : {}),
    model: out.model,
    usage: out.usage,
    timings: {
      queueMs: Math.max(0, h.job.firstStartedAt - h.job.timestamp),
      retrieveMs: round(out.retrieveMs),
      generateMs: round(out.generateMs),
      totalMs: Math.max(0, Date.now() - h.job.timestamp),
    },
    attempts: h.job.attempt,
    traceId: activeTraceIds()?.traceId ?? '',
    ...(hit ? { cached: true } : {}),
    ...(out.scoring ? { scores: out.scoring.scores } : {}),
    ...(out.scoring && Object.keys(out.scoring.details).length > 0
      ? { scoreDetails: out.scoring.details }
      : {}),
    ...(out.scoring?.graderUsage
      ? { graderUsage: out.scoring.graderUsage, graderModel: out.scoring.graderModel ?? '' }
      : {}),
  };
  h.logger.info(
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
  if (options.cache && cacheKey && cached && !hit && !out.degraded && !out.resumed) {
    const { answer, sources, model, usage } = out;
    await options.cache
      .store(cacheKey, cached.corpus, { answer, sources, model, usage })
      .catch((err: unknown) => h.emit('cache:error', { operation: 'write', err }));
  }
  if (!out.resumed) h.emit('job:stage', { stage: 'retrieve', durationMs: out.retrieveMs });
  h.emit('job:stage', { stage: 'generate', durationMs: out.generateMs });
  return result;
}

/**
 * Decides, for a failed chat call, whether the fallback answers ({@link chatFallbackReason}),
 * remembering when an open breaker or rate limit first held the job up. A job that opted out
 * (`degrade: false`) fails instead, with the reason it would have degraded.
 */
function chatFailureReason(h: JobHelpers, afterMs: number, allowed: boolean) {
  return (err: unknown): DegradedReason | undefined => {
    const now = Date.now();
    let blockedSince = h.checkpoints.chatBlockedSince;
    if (blockedSince === undefined && isChatBlocked(err)) {
      blockedSince = now;
      h.checkpoint('chatBlockedSince', now);
    }
    const reason = chatFallbackReason(err, {
      lastAttempt: h.job.lastAttempt,
      ...(h.job.deadlineAt === undefined ? {} : { deadlineLeftMs: h.job.deadlineAt - now }),
      retryDelayCeilingMs: h.job.retryDelayCeilingMs,
      // This job's own wait, or the outage its breaker has seen if longer: a job arriving in
      // an outage that has lasted afterMs already is not made to wait it out again.
      blockedMs: Math.max(
        blockedSince === undefined ? 0 : now - blockedSince,
        err instanceof BreakerOpenError ? err.outageMs : 0,
      ),
      afterMs,
    });
    if (reason === undefined) return undefined;
    if (!allowed) {
      const message = err instanceof Error ? err.message : String(err);
      throw new PermanentError(`would have answered degraded (${reason}): ${message}`, {
        cause: err,
      });
    }
    h.emit('job:degraded', { reason, err });
    return reason;
  };
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
