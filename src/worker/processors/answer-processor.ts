import { type Job, UnrecoverableError } from 'bullmq';

import {
  answerJobDataLenientSchema,
  type AnswerResult,
  formatIssues,
} from '../../shared/contracts.ts';
import type { Logger } from '../../shared/logger.ts';
import { readJobState, writeJobState } from '../job-state.ts';
import { answerQuestion } from '../pipeline/answer-question.ts';
import { guardPorts, type Guards, type Ports } from '../resilience/guarded-ports.ts';
import { type RetryPolicy, settleFailure } from '../resilience/settle-failure.ts';

export interface AnswerProcessorDeps {
  ports: Ports;
  guards: Guards;
  policy: RetryPolicy;
  logger: Logger;
  /** Namespace when the job names none. */
  defaultNamespace: string;
  /** topK when the job names none. */
  defaultTopK: number;
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

    const parsed = answerJobDataLenientSchema.safeParse(job.data);
    if (!parsed.success) {
      const reason = `invalid job data: ${formatIssues(parsed.error)}`;
      logger.warn({ failure: 'permanent' }, reason);
      throw new UnrecoverableError(reason);
    }
    const data = parsed.data;
    const ports = guardPorts(deps.ports, deps.guards, signal);
    try {
      const out = await answerQuestion(
        {
          question: data.question,
          namespace: data.namespace ?? deps.defaultNamespace,
          topK: data.topK ?? deps.defaultTopK,
        },
        ports,
        { ...(state.retrieval ? { retrieval: state.retrieval } : {}) },
        {
          checkpoint: async (cp) => {
            if (cp.retrieval) state.retrieval = cp.retrieval;
            await writeJobState(job, state);
          },
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
        traceId: '',
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
      return result;
    } catch (err) {
      return settleFailure(err, { job, token, state, policy: deps.policy, logger });
    }
  };
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
