import { createHash, randomUUID } from 'node:crypto';

import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';

import type { JobOrigin } from '../../shared/contracts.ts';
import { withRequestId } from '../../shared/telemetry/request-id.ts';
import {
  type AskqClient,
  type QuestionState,
  type QuestionStatus,
  toStatus,
} from '../askq-client.ts';
import { cancelQuestions } from '../cancel-questions.ts';
import { fairPriority } from '../fair-priority.ts';
import {
  batchEnqueuedSchema,
  batchRequestSchema,
  cancelledSchema,
  type Enqueued,
  enqueuedSchema,
  idempotencyHeadersSchema,
  problemSchema,
  questionIdParamsSchema,
  type QuestionRequest,
  questionRequestSchema,
  questionStatusSchema,
  waitQuerySchema,
} from './api-schemas.ts';
import type { JobWaiter } from './job-waiter.ts';
import type { KeyQuota } from './key-quota.ts';
import { ownedQuestion } from './owned-question.ts';
import { HttpProblem } from './problem.ts';

export interface QuestionRoutesOptions {
  /** Enqueues and reads questions (its bulk chunk is the batch size, so a batch is one addBulk). */
  client: AskqClient;
  waiter: JobWaiter;
  /** Questions per batch. */
  maxBatch: number;
  /** Per-key quotas in questions. */
  quota: KeyQuota;
  /** Priority of eval cases; interactive questions always get a smaller (earlier) one. */
  evalPriority: number;
}

/**
 * Body limit of one question: 8000 characters at up to 6 bytes each once JSON-escaped, plus
 * metadata at its limits. A batch has the server-wide limit.
 */
export const SINGLE_QUESTION_BODY_LIMIT = 256 * 1024;

const FINISHED: readonly QuestionState[] = ['completed', 'failed'];

/** OpenAPI: these routes take a bearer key. */
const secured = { tags: ['questions'], security: [{ bearerAuth: [] }] };

const problems = {
  400: problemSchema,
  401: problemSchema,
  413: problemSchema,
  415: problemSchema,
  429: problemSchema,
  503: problemSchema,
};

/**
 * `POST /v1/questions`, `POST /v1/questions/batch`, `GET` and `DELETE /v1/questions/:id`.
 * Every question records its owner (the key's fingerprint) and gets a random id; only its
 * owner and admin keys see it. Quotas are counted before anything is enqueued, and each
 * question's priority grows with its key's backlog (fair share).
 */
export async function questionRoutes(
  app: FastifyInstance,
  options: QuestionRoutesOptions,
): Promise<void> {
  const { client, waiter, quota } = options;
  const api = app.withTypeProvider<ZodTypeProvider>();
  /** Counts `count` questions against the caller's quotas, then enqueues them (or gives back). */
  const enqueue = async <T>(
    request: FastifyRequest,
    count: number,
    add: (priorityOf: (index: number) => number, origin: JobOrigin) => Promise<T>,
  ): Promise<T> => {
    const owner = request.askqOwner;
    const { pendingBefore } = await quota.reserve(owner, count);
    const origin = { owner, requestId: request.id };
    try {
      const added = await withRequestId(request.id, () =>
        add((i) => fairPriority(pendingBefore + i, options.evalPriority), origin),
      );
      // Debug: a line per request would dominate the logs (see create-api-server.ts); the
      // request id is on every line this request logs, and in the job.
      request.log.debug({ owner, questions: count, pendingBefore }, 'enqueued');
      return added;
    } catch (err) {
      await quota.release(owner, count).catch(() => {});
      throw err;
    }
  };

  api.post(
    '/v1/questions',
    {
      bodyLimit: Math.min(SINGLE_QUESTION_BODY_LIMIT, app.initialConfig.bodyLimit ?? Infinity),
      schema: {
        ...secured,
        summary: 'Enqueue one question',
        description:
          'Answers 202 with the job id. With an Idempotency-Key the same key returns the same id (200) and enqueues nothing new.',
        body: questionRequestSchema,
        headers: idempotencyHeadersSchema,
        response: { 200: enqueuedSchema, 202: enqueuedSchema, 422: problemSchema, ...problems },
      },
    },
    async (request, reply) => {
      const key = request.headers['idempotency-key'];
      const jobId = key === undefined ? randomUUID() : idempotentJobId(request.askqOwner, key);
      if (key !== undefined) {
        const existing = await client.queue.getJob(jobId);
        if (existing) {
          if (!sameRequest(existing.data as QuestionRequest, request.body)) {
            throw new HttpProblem(
              422,
              'idempotency-key-reused',
              `Idempotency-Key ${key} was used for a different question (job ${jobId})`,
            );
          }
          const state = (await existing.getState()) as QuestionState;
          return reply.code(200).send(enqueued(jobId, state));
        }
      }
      await enqueue(request, 1, (priorityOf, origin) =>
        client.ask(request.body, { jobId, priority: priorityOf(0), origin }),
      );
      return reply
        .code(202)
        .header('Location', selfLink(jobId))
        .send(enqueued(jobId, 'prioritized'));
    },
  );

  api.post(
    '/v1/questions/batch',
    {
      schema: {
        ...secured,
        summary: 'Enqueue a batch of questions atomically',
        description: `1..${options.maxBatch} questions in one addBulk: all are enqueued or none.`,
        body: batchRequestSchema(options.maxBatch),
        response: { 202: batchEnqueuedSchema, ...problems },
      },
    },
    async (request, reply) => {
      const ids = request.body.map(() => randomUUID());
      await enqueue(request, ids.length, (priorityOf, origin) =>
        // The body was validated against the request schema (stricter than the contract).
        client.askManyValidated(request.body, (i) => ({
          jobId: ids[i]!,
          priority: priorityOf(i),
          origin,
        })),
      );
      return reply.code(202).send({ ids });
    },
  );

  api.get(
    '/v1/questions/:id',
    {
      schema: {
        ...secured,
        summary: "A question's state, result or error",
        description:
          '`?wait=<seconds>` (≤ 60) holds the request until the question finishes or the wait ends.',
        params: questionIdParamsSchema,
        querystring: waitQuerySchema,
        response: { 200: questionStatusSchema, 404: problemSchema, ...problems },
      },
    },
    async (request) => {
      const { id } = request.params;
      const status = await ownedStatus(request, client, id);
      const waitSeconds = request.query.wait ?? 0;
      if (waitSeconds <= 0 || FINISHED.includes(status.state)) return status;
      await waiter.wait(id, waitSeconds * 1000, async () =>
        FINISHED.includes((await client.queue.getJobState(id)) as QuestionState),
      );
      return ownedStatus(request, client, id);
    },
  );

  api.delete(
    '/v1/questions/:id',
    {
      schema: {
        ...secured,
        summary: 'Cancel a question',
        description:
          'A waiting or delayed question is removed; an active one is aborted by its worker (no retry; it ends `failed` with reason `cancelled`). Answers 202 with the state the question was in; 409 when it had already finished.',
        params: questionIdParamsSchema,
        response: { 202: cancelledSchema, 404: problemSchema, 409: problemSchema, ...problems },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      const job = await ownedQuestion(request, client.queue, id);
      const [cancel] = await cancelQuestions(client.queue, client.connection, [job]);
      if (!cancel || cancel.outcome === 'finished') {
        throw new HttpProblem(
          409,
          'conflict',
          `question ${id} has already finished (${cancel?.state ?? 'gone'}); nothing to cancel`,
        );
      }
      const state = cancel.state as QuestionState;
      return reply.code(202).send({ id, state, outcome: cancel.outcome });
    },
  );
}

/**
 * The question's status if the caller may see it. The state is read before the job, so a job
 * seen as finished carries its result or reason (the other order can pair a fresh "failed"
 * with a stale job).
 */
async function ownedStatus(
  request: FastifyRequest,
  client: AskqClient,
  id: string,
): Promise<QuestionStatus> {
  const state = (await client.queue.getJobState(id)) as QuestionState;
  const job = await ownedQuestion(request, client.queue, id);
  return toStatus(job, state);
}

/**
 * The job id an Idempotency-Key maps to, scoped to the caller so two callers' keys never meet.
 * Hashed: a job id must not contain `:` and should not reveal the caller.
 */
export function idempotentJobId(owner: string, key: string): string {
  const hash = createHash('sha256').update(`${owner}\u0000${key}`).digest('base64url');
  return `idem-${hash.slice(0, 32)}`;
}

function sameRequest(stored: QuestionRequest, sent: QuestionRequest): boolean {
  const pick = (q: QuestionRequest) =>
    JSON.stringify([
      q.question,
      q.namespace,
      q.topK,
      q.degrade,
      q.sourceText,
      sortedEntries(q.metadata),
    ]);
  return pick(stored) === pick(sent);
}

function sortedEntries(map: Record<string, string> | undefined): [string, string][] | undefined {
  return map === undefined ? undefined : Object.entries(map).sort(([a], [b]) => (a < b ? -1 : 1));
}

function selfLink(id: string): string {
  return `/v1/questions/${encodeURIComponent(id)}`;
}

function enqueued(id: string, status: QuestionState): Enqueued {
  return { id, status, links: { self: selfLink(id), wait: `${selfLink(id)}?wait=30` } };
}
