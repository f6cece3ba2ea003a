import type { FastifyError, FastifyInstance, FastifyRequest } from 'fastify';

import { isRedisOomError, QueueFullError, type RedisMemory } from '../../shared/errors.ts';
import { ADMISSION_DEFAULTS } from '../admission.ts';
import { HttpProblem, type ProblemField, type ProblemKind, sendProblem } from './problem.ts';

export interface ProblemHandlersOptions {
  /** Whether the producer's Redis connection is up; while it is not, failures answer 503. */
  isRedisReady: () => boolean;
}

/** How long a caller should wait before retrying while Redis is down. */
const RETRY_AFTER_UNAVAILABLE_SECONDS = 1;

/**
 * Turns every error and unknown route into an RFC 9457 problem document. A bad request is a
 * 4xx with a detail that says what is wrong; Redis being down is a 503 with `Retry-After`;
 * anything else is a logged 500 whose detail reveals nothing internal.
 */
export function installProblemHandlers(
  app: FastifyInstance,
  options: ProblemHandlersOptions,
): void {
  app.setNotFoundHandler((request, reply) =>
    sendProblem(
      reply,
      new HttpProblem(404, 'not-found', `no route ${request.method} ${request.url.split('?')[0]}`),
    ),
  );
  app.setErrorHandler((error, request, reply) => {
    const problem = toProblem(error, options, request);
    if (problem.status >= 500 && problem.kind === 'internal') {
      request.log.error({ err: error }, 'request failed');
    }
    return sendProblem(reply, problem);
  });
}

function toProblem(
  error: unknown,
  options: ProblemHandlersOptions,
  request: FastifyRequest,
): HttpProblem {
  if (error instanceof HttpProblem) return error;
  const e = error as Partial<FastifyError> & { validation?: unknown };
  if (Array.isArray(e.validation)) return validationProblem(e as FastifyError);
  const status = e.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return new HttpProblem(status, kindOf(status), clientDetail(e), { cause: error });
  }
  const full = queueFull(error);
  if (full) {
    const seconds = Math.max(1, Math.ceil(full.retryAfterMs / 1000));
    // How full Redis is stays in the logs, readiness and metrics, and in the answer to an
    // admin key (an operator's): other callers learn only why.
    const why = full.oom ? 'Redis reached maxmemory' : 'Redis memory is past its high-water mark';
    const memory = request.askqAdmin === true ? full.memory : undefined;
    const howFull = memory
      ? ` (used ${memory.usedBytes} bytes, high-water mark ${memory.highWaterBytes} bytes, maxmemory ${memory.maxBytes} bytes)`
      : '';
    return new HttpProblem(
      503,
      'queue-full',
      `the queue is full: ${why}${howFull}; new questions are refused until workers catch up; retry in ${seconds} s`,
      {
        headers: { 'Retry-After': String(seconds) },
        cause: error,
        ...(memory ? { extra: { redisMemory: memory } } : {}),
      },
    );
  }
  if (!options.isRedisReady() || isConnectionError(error)) {
    return new HttpProblem(503, 'unavailable', 'the queue (Redis) is unavailable; retry shortly', {
      headers: { 'Retry-After': String(RETRY_AFTER_UNAVAILABLE_SECONDS) },
      cause: error,
    });
  }
  return new HttpProblem(500, 'internal', 'the server failed to answer; see its logs', {
    cause: error,
  });
}

function validationProblem(error: FastifyError): HttpProblem {
  const part = error.validationContext ?? 'body';
  const errors: ProblemField[] = (error.validation ?? []).map((v) => ({
    in: part,
    path: v.instancePath.replace(/^\//, '').replaceAll('/', '.'),
    message: v.message ?? 'is invalid',
  }));
  const detail = errors.map((f) => `${f.in}${f.path ? `.${f.path}` : ''}: ${f.message}`).join('; ');
  return new HttpProblem(400, 'invalid-request', detail || 'the request is invalid', {
    errors,
    cause: error,
  });
}

function clientDetail(error: Partial<FastifyError>): string {
  switch (error.code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return 'the API reads JSON only; send Content-Type: application/json';
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return 'the request body is larger than this route accepts';
    default:
      return error.message ?? 'the request is invalid';
  }
}

function kindOf(status: number): ProblemKind {
  const kinds: Record<number, ProblemKind> = {
    401: 'unauthorized',
    403: 'forbidden',
    404: 'not-found',
    405: 'method-not-allowed',
    409: 'conflict',
    413: 'payload-too-large',
    415: 'unsupported-media-type',
    429: 'rate-limited',
  };
  return kinds[status] ?? 'invalid-request';
}

/**
 * The queue-full refusal behind `error`: askq's own, one wrapped by a batch that could not be
 * taken back, or Redis's OOM reply from a path that did not translate it (never a 500);
 * `oom` when Redis itself refused rather than the high-water check.
 */
function queueFull(
  error: unknown,
): { retryAfterMs: number; oom: boolean; memory?: RedisMemory | undefined } | undefined {
  for (let e = error, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (e instanceof QueueFullError) {
      return { retryAfterMs: e.retryAfterMs, oom: isRedisOomError(e.cause), memory: e.memory };
    }
    if (isRedisOomError(e)) return { retryAfterMs: ADMISSION_DEFAULTS.retryAfterMs, oom: true };
  }
  return undefined;
}

/** ioredis's ways of saying the connection is not there (no offline queue: fails at once). */
function isConnectionError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  return (
    error.name === 'MaxRetriesPerRequestError' ||
    /enableOfflineQueue|Connection is closed|ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE/.test(
      error.message,
    )
  );
}
