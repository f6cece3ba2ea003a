/**
 * The floor under `askq serve`'s batch endpoint for bench/http-enqueue.ts: Fastify and BullMQ
 * (the libraries askq serve is built on) doing only what enqueueing a batch over HTTP needs,
 * with none of askq's code but its fair-share formula. `POST /v1/questions/batch` takes a
 * JSON array (Fastify's own parser), gives each question a fresh UUID as its job id and its
 * fair-share priority, adds them all with one `Queue.addBulk` (four at a time, as askq serve)
 * and answers 202 with the ids, as askq does. No authentication, rate limit, validation,
 * admission check or tracing: a floor, not a copy.
 *
 *   node bench/lib/bare-serve-child.ts --redis-url URL --prefix P --body-limit BYTES \
 *     --events-max-len N
 *
 * Prints `BARE_SERVE_URL <url>` once listening; exits on SIGTERM.
 */
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';

import { Queue } from 'bullmq';
import Fastify from 'fastify';
import pLimit from 'p-limit';

import { fairPriority } from '../../src/producer/fair-priority.ts';
import { ANSWER_JOB, QUESTIONS_QUEUE } from '../../src/shared/contracts.ts';
import { DEFAULTS } from '../../src/shared/defaults.ts';

const { values } = parseArgs({
  options: {
    'redis-url': { type: 'string' },
    prefix: { type: 'string' },
    'body-limit': { type: 'string', default: '10485760' },
    'events-max-len': { type: 'string', default: String(DEFAULTS.eventsMaxLen) },
  },
});
if (!values['redis-url'] || !values.prefix)
  throw new Error('--redis-url and --prefix are required');

const queue = new Queue(QUESTIONS_QUEUE, {
  connection: { url: values['redis-url'] },
  prefix: values.prefix,
  // askq's cap on the events stream (ASKQ_EVENTS_MAX_LEN), written to the queue's meta.
  streams: { events: { maxLen: Number(values['events-max-len']) } },
});
// At most 4 addBulk calls in flight, as askq serve admits them (AskqClient's maxBulkInFlight):
// without it, 64 batches' jobs would wait in ioredis at once and the floor would measure GC.
const turns = pLimit(4);
// Each question's BullMQ priority by askq's fair-share rule (src/producer/fair-priority.ts),
// its questions ahead counted here instead of read from Redis: a prioritized job costs Redis a
// sorted-set insert where a plain one is a list push, and every question over HTTP has one.
// `accepted`: the questions this server has enqueued.
let accepted = 0;
const app = Fastify({ bodyLimit: Number(values['body-limit']) });
app.post('/v1/questions/batch', async (request, reply) => {
  const items = request.body as Record<string, unknown>[];
  const ahead = accepted;
  accepted += items.length;
  const jobs = items.map((data, i) => ({
    name: ANSWER_JOB,
    data,
    opts: { jobId: randomUUID(), priority: fairPriority(ahead + i, DEFAULTS.evalPriority) },
  }));
  await turns(() => queue.addBulk(jobs));
  return reply.code(202).send({ ids: jobs.map((job) => job.opts.jobId) });
});
const url = await app.listen({ host: '127.0.0.1', port: 0 });
console.log(`BARE_SERVE_URL ${url}`);
// Stopped after its measured window: batches autocannon gave up on may still be writing to
// Redis, and closing the queue under them would only print their errors.
process.once('SIGTERM', () => process.exit(0));
