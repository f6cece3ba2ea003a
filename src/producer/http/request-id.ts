import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

import type { FastifyInstance } from 'fastify';

/** A caller's request id is kept when it is a short token: it goes into logs, spans and jobs. */
const ACCEPTED = /^[A-Za-z0-9._:@/+=-]{1,128}$/;

/**
 * Fastify's `genReqId`: the caller's `X-Request-Id` when it is 1..128 characters of
 * `A-Z a-z 0-9 . _ : @ / + = -`, else a new UUID (a malformed one is replaced, not refused,
 * so a request never fails over its id).
 */
export function requestIdOf(request: IncomingMessage): string {
  const given = request.headers['x-request-id'];
  return typeof given === 'string' && ACCEPTED.test(given) ? given : randomUUID();
}

/** Returns the request id on every response (`X-Request-Id`), errors and 404s included. */
export function echoRequestId(app: FastifyInstance): void {
  app.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });
}
