import type { Job, Queue } from 'bullmq';
import type { FastifyRequest } from 'fastify';

import { readJobOrigin } from '../../shared/contracts.ts';
import { HttpProblem } from './problem.ts';

/**
 * Whether the caller may see a question: its owner, or an admin key. A question without an
 * origin (a foreign producer's, added straight to Redis) belongs to no key: admins only.
 */
export function mayAccess(request: FastifyRequest, job: Job): boolean {
  return request.askqAdmin || readJobOrigin(job.data)?.owner === request.askqOwner;
}

/** The same answer for "no such question" and "not yours", so ids of others reveal nothing. */
export function questionNotFound(id: string): HttpProblem {
  return new HttpProblem(404, 'not-found', `no question with id ${id}`);
}

/** The question with this id if the caller may see it; else a 404 problem. */
export async function ownedQuestion(
  request: FastifyRequest,
  queue: Queue,
  id: string,
): Promise<Job> {
  const job = await queue.getJob(id);
  if (!job || !mayAccess(request, job)) throw questionNotFound(id);
  return job;
}
