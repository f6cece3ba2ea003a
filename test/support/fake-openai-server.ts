import { createHash } from 'node:crypto';

import { BATCH_ROUTES, type BatchRoute, FakeBatches } from './fake-openai-batches.ts';
import {
  type RecordedRequest,
  type RouteResponse,
  type ScriptedBehaviour,
  startScriptedHttpServer,
  type TrafficEvent,
} from './scripted-http-server.ts';

/**
 * An OpenAI-compatible HTTP server for tests and benchmarks: chat completions (JSON and SSE),
 * embeddings and the model list, deterministic answers, scripted failures in OpenAI's error
 * shape. Point the real SDK at {@link FakeOpenAI.url} so its whole HTTP path runs.
 */

export type OpenAIRoute = 'chat' | 'embeddings' | 'models' | BatchRoute;

export type { RecordedRequest, ScriptedBehaviour, TrafficEvent } from './scripted-http-server.ts';

export interface FakeOpenAIOptions {
  /** When set, requests must carry `Authorization: Bearer <apiKey>`, else 401. @defaultValue any key */
  apiKey?: string;
  /** Delay before every answer, in ms; settable later through {@link FakeOpenAI.latencyMs}. @defaultValue 0 */
  latencyMs?: number;
  /**
   * Dimensions of the embeddings when the request sends no `dimensions`. Small on purpose:
   * OpenAI's 1536 only slows tests down. @defaultValue 64
   */
  embeddingDimensions?: number;
  /** The chat answer for a request body. @defaultValue {@link echoContextReply} */
  chatReply?: (body: ChatRequestBody) => string;
  /**
   * The reply content of a structured-output request (`response_format: json_schema`, a
   * grader's), by schema name. @defaultValue {@link fakeGrade}
   */
  graderReply?: (body: ChatRequestBody, schemaName: string) => string;
  /** Ids `GET /v1/models` lists. @defaultValue ['gpt-4o-mini', 'text-embedding-3-small'] */
  models?: string[];
  /**
   * The behaviour of each request no {@link FakeOpenAI.failNext} script covers: seeded random
   * faults (`randomFaults` in random-faults.ts), content-based faults, outages. `undefined`
   * answers normally. @defaultValue none
   */
  decide?: (route: OpenAIRoute, request: RecordedRequest) => ScriptedBehaviour | undefined;
  /** Observes arrivals, answers and client aborts with their times. @defaultValue none */
  onTraffic?: (event: TrafficEvent<OpenAIRoute>) => void;
  /** A provider's request limit, answered with 429s beyond it; see {@link FakeRateLimit}. @defaultValue none */
  rateLimit?: FakeRateLimit;
  /** Serve the Batch API (fake-openai-batches.ts); `false` is a server without it (404). @defaultValue true */
  batchApi?: boolean;
  /** Time from a batch's creation to its end. @defaultValue 0 */
  batchCompletionDelayMs?: number;
}

/**
 * A requests-per-minute limit as a provider enforces it: each fixed window of `windowMs`
 * (aligned to the server's clock) admits `requestsPerMinute × windowMs / 60000` requests
 * (at least 1); beyond that a request gets OpenAI's 429 (`rate_limit_exceeded`) with
 * `retry-after` (whole seconds, rounded up), `retry-after-ms` and `x-ratelimit-*` headers
 * for the rest of the window. Rejected requests do not use up the allowance. Counted at
 * arrival, before the latency. Scripted behaviours ({@link FakeOpenAI.failNext}) bypass it.
 */
export interface FakeRateLimit {
  requestsPerMinute: number;
  /** Routes the limit covers (one shared allowance). @defaultValue ['chat', 'embeddings'] */
  routes?: OpenAIRoute[];
  /** Window length. @defaultValue 1000 (so 600/min admits 10 per second) */
  windowMs?: number;
}

/** The parts of a chat completions request the fake reads. */
export interface ChatRequestBody {
  model: string;
  messages: { role: string; content: string | { type: string; text?: string }[] }[];
  stream?: boolean;
  stream_options?: { include_usage?: boolean };
  max_tokens?: number;
  temperature?: number;
  response_format?: { type: string; json_schema?: { name?: string; schema?: unknown } };
}

/** A running fake; see {@link startFakeOpenAI}. */
export interface FakeOpenAI {
  /** Base URL including `/v1`, for `OPENAI_BASE_URL` / `baseURL`. */
  readonly url: string;
  /** Requests received per route, failed ones included. */
  readonly calls: Record<OpenAIRoute, number>;
  /** The last requests per route (body and headers), oldest first. */
  readonly requests: Record<OpenAIRoute, RecordedRequest[]>;
  /** Delay before every answer, in ms; settable at runtime. */
  latencyMs: number;
  /** Replaces the chat answer function. */
  chatReply: (body: ChatRequestBody) => string;
  /** Replaces the structured-output (grader) reply function. */
  graderReply: (body: ChatRequestBody, schemaName: string) => string;
  /** Requests whose client hung up before the fake answered. */
  readonly clientAborts: number;
  /** Requests answered 429 by {@link FakeOpenAIOptions.rateLimit}. */
  readonly rateLimited: number;
  /** The Batch API's state: batches created, per-line failures, expiry, completion delay. */
  readonly batches: FakeBatches;
  /** Queues one-shot behaviours for the next requests to `route`, in order. */
  failNext(route: OpenAIRoute, ...behaviours: ScriptedBehaviour[]): void;
  lastRequest(route: OpenAIRoute): RecordedRequest | undefined;
  /** Resolves at the next client abort (or at once if one happened since the last call). */
  nextClientAbort(): Promise<void>;
  /** Resolves when the next request to `route` arrives, before it is answered. */
  nextRequest(route: OpenAIRoute): Promise<RecordedRequest>;
  /** Stops the server and releases hung requests. */
  close(): Promise<void>;
}

const DEFAULTS = {
  latencyMs: 0,
  embeddingDimensions: 64,
  models: ['gpt-4o-mini', 'text-embedding-3-small'],
} satisfies Omit<FakeOpenAIOptions, 'apiKey' | 'chatReply'>;

const ROUTES = [
  'chat',
  'embeddings',
  'models',
  ...BATCH_ROUTES,
] as const satisfies readonly OpenAIRoute[];

/** Starts the fake on a free port of 127.0.0.1. */
export async function startFakeOpenAI(options: FakeOpenAIOptions = {}): Promise<FakeOpenAI> {
  const defaultDims = options.embeddingDimensions ?? DEFAULTS.embeddingDimensions;
  const models = options.models ?? DEFAULTS.models;
  let chatReply = options.chatReply ?? echoContextReply;
  let graderReply = options.graderReply ?? fakeGrade;
  const limiter = options.rateLimit ? requestLimiter(options.rateLimit) : undefined;
  const batches = new FakeBatches(
    (body) => chat(body as ChatRequestBody, chatReply),
    (status) => errorResponse(status, ''),
    options.batchCompletionDelayMs === undefined
      ? {}
      : { completionDelayMs: options.batchCompletionDelayMs },
  );
  const batchApi = options.batchApi ?? true;
  const decide = limiter
    ? (route: OpenAIRoute, request: RecordedRequest) =>
        limiter.check(route) ?? options.decide?.(route, request)
    : options.decide;

  const server = await startScriptedHttpServer<OpenAIRoute>({
    routes: ROUTES,
    latencyMs: options.latencyMs ?? DEFAULTS.latencyMs,
    ...(decide ? { decide } : {}),
    ...(options.onTraffic ? { onTraffic: options.onTraffic } : {}),
    match: (method, path) => {
      if (method === 'POST' && path === '/v1/chat/completions') return 'chat';
      if (method === 'POST' && path === '/v1/embeddings') return 'embeddings';
      if (method === 'GET' && path === '/v1/models') return 'models';
      return batchApi ? FakeBatches.match(method, path) : undefined;
    },
    authorize: (request) => {
      if (options.apiKey === undefined) return undefined;
      return bearer(request) === options.apiKey ? undefined : errorResponse(401, bearer(request));
    },
    errorResponse: (status, request) => errorResponse(status, bearer(request)),
    handle: (route, request) => {
      if (route === 'chat') {
        const body = request.body as ChatRequestBody;
        const name = body?.response_format?.json_schema?.name;
        return chat(body, name === undefined ? chatReply : (b) => graderReply(b, name));
      }
      if (route === 'embeddings') return embeddings(request.body as EmbeddingsBody, defaultDims);
      if (route !== 'models') return batches.handle(route, request);
      return {
        body: {
          object: 'list',
          data: models.map((id) => ({ id, object: 'model', created: 0, owned_by: 'askq-fake' })),
        },
      };
    },
  });

  return {
    url: `${server.origin}/v1`,
    calls: server.calls,
    requests: server.requests,
    get latencyMs() {
      return server.latencyMs;
    },
    set latencyMs(ms: number) {
      server.latencyMs = ms;
    },
    get chatReply() {
      return chatReply;
    },
    set chatReply(reply: (body: ChatRequestBody) => string) {
      chatReply = reply;
    },
    get graderReply() {
      return graderReply;
    },
    set graderReply(reply: (body: ChatRequestBody, schemaName: string) => string) {
      graderReply = reply;
    },
    get clientAborts() {
      return server.clientAborts;
    },
    get rateLimited() {
      return limiter?.rejected ?? 0;
    },
    batches,
    failNext: (route, ...behaviours) => server.failNext(route, ...behaviours),
    lastRequest: (route) => server.lastRequest(route),
    nextClientAbort: () => server.nextClientAbort(),
    nextRequest: (route) => server.nextRequest(route),
    close: () => server.close(),
  };
}

/** Fixed-window request counting for {@link FakeRateLimit}. */
function requestLimiter(limit: FakeRateLimit) {
  const windowMs = limit.windowMs ?? 1000;
  const allowance = Math.max(1, Math.floor((limit.requestsPerMinute * windowMs) / 60_000));
  const routes = new Set<OpenAIRoute>(limit.routes ?? ['chat', 'embeddings']);
  let window = -1;
  let used = 0;
  const state = {
    rejected: 0,
    check(route: OpenAIRoute): ScriptedBehaviour | undefined {
      if (!routes.has(route)) return undefined;
      const now = Date.now();
      const current = Math.floor(now / windowMs);
      if (current !== window) {
        window = current;
        used = 0;
      }
      if (used < allowance) {
        used += 1;
        return undefined;
      }
      state.rejected += 1;
      const waitMs = (current + 1) * windowMs - now;
      return {
        status: 429,
        headers: {
          'retry-after': String(Math.ceil(waitMs / 1000)),
          'retry-after-ms': String(waitMs),
          'x-ratelimit-limit-requests': String(limit.requestsPerMinute),
          'x-ratelimit-remaining-requests': '0',
          'x-ratelimit-reset-requests': `${waitMs}ms`,
        },
      };
    },
  };
  return state;
}

/**
 * The default answer: the first sentence after a `Context:` marker in the last user message,
 * cited as `[1]`; `I don't know.` when there is no marker or no sentence before `Question:`. Deterministic and visibly built from the prompt.
 */
export function echoContextReply(body: ChatRequestBody): string {
  const user = [...body.messages].reverse().find((m) => m.role === 'user');
  const text = user ? contentText(user.content) : '';
  const at = text.indexOf('Context:');
  if (at < 0) return "I don't know.";
  const lines = text.slice(at + 'Context:'.length).split('\n');
  for (const line of lines) {
    const clean = line.trim();
    if (/^Question:/.test(clean)) break;
    // Skip source headers such as `[1] handbook.md#0`, notes in parentheses and empty lines.
    if (clean === '' || /^\[\d+\]/.test(clean) || clean.startsWith('(') || clean.endsWith(':')) {
      continue;
    }
    const sentence = /^(.*?[.!?。！？])(\s|$)/u.exec(clean)?.[1] ?? clean;
    return `${sentence} [1]`;
  }
  return "I don't know.";
}

/** True for a structured-output request (a grader's), as opposed to an answer's. */
export function isGraderRequest(request: RecordedRequest): boolean {
  const body = request.body as ChatRequestBody | undefined;
  return body?.response_format?.type === 'json_schema';
}

/**
 * The default grader reply: valid for askq's grading schemas, deterministic and visibly
 * fake. Faithfulness and context recall find one supported statement; context precision
 * finds every passage useful; answer relevancy writes the answer back as the question it
 * answers; judge scores 7 of 10.
 */
export function fakeGrade(body: ChatRequestBody, schemaName: string): string {
  const user = [...body.messages].reverse().find((m) => m.role === 'user');
  const text = user ? contentText(user.content) : '';
  switch (schemaName) {
    case 'faithfulness':
    case 'context_recall':
      return JSON.stringify({
        statements: [{ statement: 'the first statement', supported: true, reason: 'fake grader' }],
      });
    case 'context_precision': {
      const passages = text.match(/^\[\d+\] \(/gm)?.length ?? 0;
      return JSON.stringify({
        verdicts: Array.from({ length: passages }, (_, i) => ({
          passage: i + 1,
          useful: true,
          reason: 'fake grader',
        })),
      });
    }
    case 'answer_relevancy':
      return JSON.stringify({
        questions: [/^Answer: (.*)$/m.exec(text)?.[1] ?? 'a question'],
        noncommittal: false,
        reason: 'fake grader',
      });
    default:
      return JSON.stringify({ score: 7, reason: 'fake grader: meets most of the rubric' });
  }
}

function bearer(request: RecordedRequest): string {
  return /^Bearer (.*)$/.exec(request.headers.authorization ?? '')?.[1] ?? '';
}

function contentText(content: ChatRequestBody['messages'][number]['content']): string {
  return typeof content === 'string' ? content : content.map((p) => p.text ?? '').join('');
}

function countWords(text: string): number {
  return text.split(/\s+/).filter(Boolean).length;
}

function chat(body: ChatRequestBody, reply: (body: ChatRequestBody) => string): RouteResponse {
  if (!body || !Array.isArray(body.messages) || typeof body.model !== 'string') {
    return errorResponse(400, '', 'messages and model are required');
  }
  const content = reply(body);
  const usage = {
    prompt_tokens: body.messages.reduce((n, m) => n + countWords(contentText(m.content)), 0),
    completion_tokens: countWords(content),
    total_tokens: 0,
  };
  usage.total_tokens = usage.prompt_tokens + usage.completion_tokens;
  const id = `chatcmpl-${createHash('sha1').update(JSON.stringify(body)).digest('hex').slice(0, 12)}`;
  const base = { id, created: Math.floor(Date.now() / 1000), model: body.model };
  if (!body.stream) {
    return {
      body: {
        ...base,
        object: 'chat.completion',
        choices: [
          {
            index: 0,
            message: { role: 'assistant', content, refusal: null },
            logprobs: null,
            finish_reason: 'stop',
          },
        ],
        usage,
      },
    };
  }
  const chunk = (choices: unknown[], extra: object = {}) =>
    JSON.stringify({ ...base, object: 'chat.completion.chunk', choices, ...extra });
  const events = [
    chunk([{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }]),
    chunk([{ index: 0, delta: { content }, finish_reason: null }]),
    chunk([{ index: 0, delta: {}, finish_reason: 'stop' }]),
  ];
  if (body.stream_options?.include_usage) events.push(chunk([], { usage }));
  events.push('[DONE]');
  return { events };
}

interface EmbeddingsBody {
  model: string;
  input: string | string[];
  dimensions?: number;
  encoding_format?: 'float' | 'base64';
}

function embeddings(body: EmbeddingsBody, defaultDims: number): RouteResponse {
  const inputs = typeof body?.input === 'string' ? [body.input] : body?.input;
  if (!Array.isArray(inputs) || inputs.length === 0 || typeof body.model !== 'string') {
    return errorResponse(400, '', 'input and model are required');
  }
  const dims = body.dimensions ?? defaultDims;
  const data = inputs.map((text, index) => {
    const vector = hashEmbedding(String(text), dims);
    const embedding =
      body.encoding_format === 'base64'
        ? Buffer.from(new Float32Array(vector).buffer).toString('base64')
        : vector;
    return { object: 'embedding', index, embedding };
  });
  const tokens = inputs.reduce((n, t) => n + countWords(String(t)), 0);
  return {
    body: {
      object: 'list',
      data,
      model: body.model,
      usage: { prompt_tokens: tokens, total_tokens: tokens },
    },
  };
}

/** Deterministic unit vector: each word adds ±1 at a hashed position. */
export function hashEmbedding(text: string, dims: number): number[] {
  const vector = new Array<number>(dims).fill(0);
  const words = text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
  for (const word of words) {
    const digest = createHash('sha256').update(word).digest();
    vector[digest.readUInt32BE(0) % dims]! += digest[4]! & 1 ? 1 : -1;
  }
  const norm = Math.hypot(...vector);
  if (norm === 0) {
    vector[0] = 1;
    return vector;
  }
  return vector.map((v) => v / norm);
}

/** OpenAI's error shape for a status; a 401 names the key masked, as OpenAI does. */
function errorResponse(status: number, key: string, message?: string): RouteResponse {
  const masked = key.length > 8 ? `${key.slice(0, 3)}${'*'.repeat(12)}${key.slice(-4)}` : '****';
  const byStatus: Record<number, { message: string; type: string; code: string | null }> = {
    400: { message: message ?? 'Invalid request.', type: 'invalid_request_error', code: null },
    401: {
      message: `Incorrect API key provided: ${masked}. You can find your API key at https://platform.openai.com/account/api-keys.`,
      type: 'invalid_request_error',
      code: 'invalid_api_key',
    },
    403: { message: 'Forbidden.', type: 'invalid_request_error', code: null },
    404: {
      message: 'The model does not exist.',
      type: 'invalid_request_error',
      code: 'model_not_found',
    },
    429: {
      message: 'Rate limit reached for requests. Please try again later.',
      type: 'requests',
      code: 'rate_limit_exceeded',
    },
  };
  const error = byStatus[status] ?? {
    message: status >= 500 ? 'The server had an error while processing your request.' : 'Error.',
    type: status >= 500 ? 'server_error' : 'invalid_request_error',
    code: null,
  };
  return { status, body: { error: { ...error, param: null } } };
}
