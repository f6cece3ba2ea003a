import { trace } from '@opentelemetry/api';
import { DelayedError, type Job, UnrecoverableError } from 'bullmq';

import {
  batchCaseDataSchema,
  type BatchOutcome,
  EVAL_BATCH_QUEUE,
} from '../../shared/batch/batch-lane.ts';
import {
  answerJobDataLenientSchema,
  type AnswerResult,
  formatIssues,
} from '../../shared/contracts.ts';
import { AskqError, PermanentError } from '../../shared/errors.ts';
import { completedState, readJobState, writeJobState } from '../../shared/job-state.ts';
import type { ChatInput, ChatOutput, ChatPort } from '../../shared/ports.ts';
import { GraderMissingError } from '../../shared/scoring/grader-errors.ts';
import { activeTraceIds, safeSetAttributes } from '../../shared/telemetry/spans.ts';
import { CANCELLED_REASON } from '../../shared/tenancy/cancel-channel.ts';
import { assertAllowedModel } from '../allowed-models.ts';
import { bindGrader, bindSignal } from '../attempt/bind-signal.ts';
import { reportSettlement } from '../attempt/run-attempt.ts';
import { settleFailure } from '../attempt/settle-failure.ts';
import { cancelledFailure, isCancelRequested } from '../cancellation/cancel-listener.ts';
import { sourcesForResult } from '../jobs/source-excerpts.ts';
import { answerQuestion } from '../pipeline/answer-question.ts';
import type { Generation } from '../pipeline/generate.ts';
import { graderProblem } from '../pipeline/score.ts';
import type { JobRef } from '../worker-events.ts';
import { type BatchLaneDeps, ensureSubmit, storeOf } from './batch-lane-deps.ts';
import { recordBatchAnswerSpan } from './batch-spans.ts';

/** A chat port that can write its request as a Batch API line (OpenAIChat). */
interface BatchableChat extends ChatPort {
  requestBody(input: ChatInput): Promise<Record<string, unknown>>;
}

function isBatchable(chat: ChatPort): chat is BatchableChat {
  return typeof (chat as Partial<BatchableChat>).requestBody === 'function';
}

/** Thrown by the recording chat port once the request body is built: the case waits. */
class QueuedForBatch extends AskqError {
  override name = 'QueuedForBatch';
  readonly body: Record<string, unknown>;
  constructor(body: Record<string, unknown>) {
    super('request queued for a batch');
    this.body = body;
  }
}

const caseDataSchema = answerJobDataLenientSchema.extend(batchCaseDataSchema.shape);

/**
 * A case of a batch-lane run, in two visits. First: retrieval as for any question, then the
 * chat request is stored as a Batch API line and the job sleeps (delayed) until its batch is
 * collected. Then: with the batch's answer, scoring runs exactly as online; a 4xx line ends
 * the case with the provider's message; `online` (the fallback) answers it with a normal
 * chat call. Sleeping is not an attempt: the count is given back. Failures settle as any
 * job's (settleFailure) and are reported as the worker's events; the attempt runner is not
 * used because a job of it cannot put itself to sleep, and its deadline would end a case
 * that waits hours for its batch.
 */
export async function runCaseJob(
  job: Job,
  token: string | undefined,
  signal: AbortSignal | undefined,
  deps: BatchLaneDeps,
): Promise<AnswerResult> {
  const state = readJobState(job.data);
  state.attempt += 1;
  state.firstStartedAt ??= job.processedOn ?? Date.now();
  const ref: JobRef = { queue: EVAL_BATCH_QUEUE, jobId: job.id ?? '', attempt: state.attempt };
  deps.events.emit('job:started', ref);
  // Cancelled on request (cancellation/cancel-listener.ts): failed at once, never retried.
  const cancelled = (): never => {
    deps.events.emit('job:failed', { ...ref, failure: 'cancelled', reason: CANCELLED_REASON });
    throw cancelledFailure();
  };
  if (deps.wasCancelled?.(job)) return cancelled();
  const parsed = caseDataSchema.safeParse(job.data);
  if (!parsed.success) {
    const reason = `invalid job data: ${formatIssues(parsed.error)}`;
    deps.events.emit('job:failed', { ...ref, failure: 'permanent', reason });
    throw new UnrecoverableError(reason);
  }
  const data = parsed.data;
  const id = ref.jobId;
  const store = storeOf(deps, data.runId);
  const logger = deps.logger.child({ job_id: id, attempt: state.attempt });
  // A batch lane waits for hours: the online deadline does not apply to it.
  const { deadlineMs: _none, ...policy } = deps.policy;
  const guarded = bindSignal(deps.ports, signal);
  const variant = data.variant ?? {};
  const { model, temperature, systemPrompt } = variant;
  const chatSettings = {
    ...(model === undefined ? {} : { model }),
    ...(temperature === undefined ? {} : { temperature }),
    ...(systemPrompt === undefined ? {} : { systemPrompt }),
  };
  const input = {
    question: data.question,
    namespace: variant.namespace ?? data.namespace ?? deps.defaultNamespace,
    topK: variant.topK ?? data.topK ?? deps.defaultTopK,
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
  };
  try {
    const outcome = await store.outcome(id);
    if (outcome?.kind === 'error') throw new PermanentError(outcome.message);
    if (await store.isCancelled()) {
      if (!outcome || outcome.kind === 'online') throw new PermanentError('run cancelled');
    }
    if (model !== undefined && deps.allowedModels) {
      assertAllowedModel(deps.allowedModels, model, 'variant');
    }
    const chosen = deps.graderFor ? await deps.graderFor(data.grader) : undefined;
    const grader = chosen ? bindGrader(chosen, signal) : guarded.grader;
    // Before anything is paid for: a case that needs a grader cannot be scored without one.
    const noGrader = graderProblem(data, grader !== undefined);
    if (noGrader) throw new GraderMissingError(noGrader);
    let ports = { ...guarded, grader };
    if (!outcome) {
      if (!isBatchable(deps.chat)) {
        throw new PermanentError(
          `chat provider ${deps.chat.provider} cannot answer through batches`,
        );
      }
      ports = { ...ports, chat: recordingChat(deps.chat) };
    }
    const retrieval = state.retrieval;
    const started = Date.now();
    const out = await answerQuestion(input, ports, {
      // A batch's answer is never asked again online, even if the retrieval it used was lost.
      ...(outcome?.kind === 'answer'
        ? {
            cached: {
              retrieval: retrieval ?? { sources: [], retrieveMs: 0 },
              generation: toGeneration(outcome),
            },
          }
        : retrieval
          ? { resume: retrieval }
          : {}),
      checkpoint: (r) => {
        state.retrieval = r;
      },
      onDegraded: (err) =>
        deps.events.emit('job:degraded', { ...ref, reason: 'retrieval_unavailable', err }),
      // No chat fallback: the batch (or the online fallback lane) is this case's chat.
      fallback: {
        mode: data.degrade === false ? 'retry' : deps.retrievalFallback,
        lastAttempt: state.attempt >= policy.attempts,
      },
    });
    if (outcome?.kind === 'answer') {
      recordBatchAnswerSpan(outcome, started, await store.traces([id]).catch(() => []));
    }
    const result: AnswerResult = {
      answer: out.answer,
      sources: sourcesForResult(out.sources, data.sourceText, deps.sourceTextChars),
      degraded: out.degraded,
      ...(out.degradedReason ? { degradedReason: out.degradedReason } : {}),
      model: out.model,
      usage: out.usage,
      timings: {
        queueMs: Math.max(0, state.firstStartedAt - job.timestamp),
        retrieveMs: Math.round(out.retrieveMs * 10) / 10,
        generateMs: Math.round(out.generateMs * 10) / 10,
        totalMs: Math.max(0, Date.now() - job.timestamp),
      },
      attempts: state.attempt,
      traceId: activeTraceIds()?.traceId ?? '',
      ...(out.scoring ? { scores: out.scoring.scores } : {}),
      ...(out.scoring && Object.keys(out.scoring.details).length > 0
        ? { scoreDetails: out.scoring.details }
        : {}),
      ...(out.scoring?.graderUsage
        ? { graderUsage: out.scoring.graderUsage, graderModel: out.scoring.graderModel ?? '' }
        : {}),
      ...(outcome?.kind === 'answer' ? { batchId: outcome.batchId } : {}),
    };
    // Every case slept with its retrieval (whole chunks) in its data: not kept once answered.
    const kept = completedState(job.data);
    if (kept) await writeJobState(job, kept).catch(() => {});
    deps.events.emit('job:completed', { ...ref, result });
    return result;
  } catch (err) {
    if (err instanceof QueuedForBatch) return sleepUntilCollected(job, token, state, err, deps);
    if (isCancelRequested(signal)) return cancelled();
    logger.debug({ err }, 'case attempt failed');
    const { outcome, error } = await settleFailure(err, {
      job,
      token,
      state,
      policy,
      pauseQueue: deps.pauseQueue,
    });
    reportSettlement(deps.events, ref, outcome);
    throw error;
  }
}

/**
 * Puts the case to sleep until its batch is collected, then queues its request line. In this
 * order, so whatever collects the batch always finds the case asleep to wake it. Waiting is
 * not an attempt; retrieval (done now) is kept for the second visit.
 */
async function sleepUntilCollected(
  job: Job,
  token: string | undefined,
  state: ReturnType<typeof readJobState>,
  queued: QueuedForBatch,
  deps: BatchLaneDeps,
): Promise<never> {
  const id = job.id ?? '';
  const { runId } = caseDataSchema.pick({ runId: true }).parse(job.data);
  state.attempt -= 1;
  state.retrieval ??= { sources: [], retrieveMs: 0 };
  await writeJobState(job, state);
  await job.moveToDelayed(Date.now() + deps.settings.caseRecheckMs, token);
  const line = JSON.stringify({
    custom_id: id,
    method: 'POST',
    url: '/v1/chat/completions',
    body: queued.body,
  });
  const open = await storeOf(deps, runId).addLine(id, line, activeTraceIds());
  await ensureSubmit(deps, runId, open);
  safeSetAttributes(trace.getActiveSpan(), { 'askq.batch.queued': true });
  throw new DelayedError('waiting for its batch');
}

/** A chat port whose call writes the request body instead of sending it. */
function recordingChat(chat: BatchableChat): ChatPort {
  return {
    provider: chat.provider,
    model: chat.model,
    async answer(input: ChatInput): Promise<ChatOutput> {
      throw new QueuedForBatch(await chat.requestBody(input));
    },
  };
}

function toGeneration(outcome: Extract<BatchOutcome, { kind: 'answer' }>): Generation {
  return {
    answer: outcome.text,
    model: outcome.model,
    usage: outcome.usage,
    ...(outcome.finishReason ? { finishReason: outcome.finishReason } : {}),
    generateMs: outcome.waitedMs,
  };
}
