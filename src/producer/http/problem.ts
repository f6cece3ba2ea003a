import type { FastifyReply } from 'fastify';

import { AskqError, type RedisMemory } from '../../shared/errors.ts';

/** One field-level problem inside a problem document. */
export interface ProblemField {
  /** Where: `body`, `querystring`, `params` or `headers`. */
  in: string;
  /** Dotted path inside it (`3.question`, `metadata.team`); empty for the whole part. */
  path: string;
  message: string;
}

/** An RFC 9457 problem document, as the API sends it with `application/problem+json`. */
export interface ProblemDocument {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance?: string;
  /** The request's `X-Request-Id`, to quote when asking about it. */
  requestId?: string;
  errors?: ProblemField[];
  /** Redis memory in bytes, in a queue-full answer to an admin key. */
  redisMemory?: RedisMemory;
}

/** The problem types the API answers with; `type` is `urn:askq:problem:<kind>`. */
export type ProblemKind =
  | 'invalid-request'
  | 'unauthorized'
  | 'forbidden'
  | 'not-found'
  | 'method-not-allowed'
  | 'conflict'
  | 'idempotency-key-reused'
  | 'payload-too-large'
  | 'unsupported-media-type'
  | 'rate-limited'
  | 'quota-exceeded'
  | 'queue-full'
  | 'unavailable'
  | 'internal';

const TITLES: Record<ProblemKind, string> = {
  'invalid-request': 'Invalid request',
  unauthorized: 'Unauthorized',
  forbidden: 'Forbidden',
  'not-found': 'Not found',
  'method-not-allowed': 'Method not allowed',
  conflict: 'Conflict',
  'idempotency-key-reused': 'Idempotency-Key reused with a different request',
  'payload-too-large': 'Request body too large',
  'unsupported-media-type': 'Unsupported media type',
  'rate-limited': 'Too many requests',
  'quota-exceeded': 'Question quota exceeded',
  'queue-full': 'Queue full',
  unavailable: 'Service unavailable',
  internal: 'Internal server error',
};

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

/** An error the API answers as a problem document; thrown by handlers and hooks. */
export class HttpProblem extends AskqError {
  override name = 'HttpProblem';
  readonly status: number;
  readonly kind: ProblemKind;
  readonly errors: ProblemField[] | undefined;
  /** Response headers to send with it (`Retry-After`, `WWW-Authenticate`). */
  readonly headers: Record<string, string>;
  /** Members added to the document (RFC 9457 extension members), e.g. `redisMemory`. */
  readonly extra: Record<string, unknown>;

  constructor(
    status: number,
    kind: ProblemKind,
    detail: string,
    options: {
      errors?: ProblemField[];
      headers?: Record<string, string>;
      extra?: Record<string, unknown>;
      cause?: unknown;
    } = {},
  ) {
    super(detail, { cause: options.cause });
    this.status = status;
    this.kind = kind;
    this.errors = options.errors;
    this.headers = options.headers ?? {};
    this.extra = options.extra ?? {};
  }

  /** The document for this problem; `instance` is the request path. */
  toDocument(instance?: string, requestId?: string): ProblemDocument {
    return {
      type: `urn:askq:problem:${this.kind}`,
      title: TITLES[this.kind],
      status: this.status,
      detail: this.message,
      ...(instance ? { instance } : {}),
      ...(requestId ? { requestId } : {}),
      ...(this.errors ? { errors: this.errors } : {}),
      ...this.extra,
    };
  }
}

/** Sends a problem as `application/problem+json` with its headers. */
export function sendProblem(reply: FastifyReply, problem: HttpProblem): FastifyReply {
  return reply
    .code(problem.status)
    .headers(problem.headers)
    .type(PROBLEM_CONTENT_TYPE)
    .send(problem.toDocument(reply.request.url.split('?')[0], reply.request.id));
}
