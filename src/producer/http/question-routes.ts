import { createHash } from 'node:crypto';

import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';

import {
  type AskqClient,
  type QuestionState,
  type QuestionStatus,
  toStatus,
} from '../askq-client.ts';
import {
  batchEnqueuedSchema,
  batchRequestSchema,
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
import { HttpProblem } from './problem.ts';

export interface QuestionRoutesOptions {
  /** Enqueues and reads questions (its bulk chunk is the batch size, so a batch is one addBulk). */
  client: AskqClient;
  waiter: JobWaiter;
  /** Questions per batch. */
  maxBatch: number;
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

/** `POST /v1/questions`, `POST /v1/questions/batch`, `GET /v1/questions/:id`. */
export async function questionRoutes(
  app: FastifyInstance,
  options: QuestionRoutesOptions,
): Promise<void> {
  const { client, waiter } = options;
  const api = app.withTypeProvider<ZodTypeProvider>();

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
      if (key === undefined) {
        const { id } = await client.ask(request.body);
        return reply.code(202).header('Location', selfLink(id)).send(enqueued(id, 'waiting'));
      }
      const jobId = idempotentJobId(request.askqPrincipal, key);
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
      await client.ask(request.body, { jobId });
      return reply.code(202).header('Location', selfLink(jobId)).send(enqueued(jobId, 'waiting'));
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
      const { ids } = await client.askMany(request.body);
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
      const status = await statusOrNotFound(client, id);
      const waitSeconds = request.query.wait ?? 0;
      if (waitSeconds <= 0 || FINISHED.includes(status.state)) return status;
      await waiter.wait(id, waitSeconds * 1000, async () =>
        FINISHED.includes((await client.queue.getJobState(id)) as QuestionState),
      );
      return statusOrNotFound(client, id);
    },
  );
}

/**
 * The question's status. The state is read before the job, so a job seen as finished carries
 * its result or reason (the other order can pair a fresh "failed" with a stale job).
 */
async function statusOrNotFound(client: AskqClient, id: string): Promise<QuestionStatus> {
  const state = (await client.queue.getJobState(id)) as QuestionState;
  const job = await client.queue.getJob(id);
  if (!job) throw new HttpProblem(404, 'not-found', `no question with id ${id}`);
  return toStatus(job, state);
}

/**
 * The job id an Idempotency-Key maps to, scoped to the caller so two callers' keys never meet.
 * Hashed: a job id must not contain `:` and should not reveal the caller.
 */
export function idempotentJobId(principal: string, key: string): string {
  const scope = principal.startsWith('anonymous') ? 'anonymous' : principal;
  const hash = createHash('sha256').update(`${scope}\u0000${key}`).digest('base64url');
  return `idem-${hash.slice(0, 32)}`;
}

function sameRequest(stored: QuestionRequest, sent: QuestionRequest): boolean {
  const pick = (q: QuestionRequest) =>
    JSON.stringify([q.question, q.namespace, q.topK, q.degrade, sortedEntries(q.metadata)]);
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
