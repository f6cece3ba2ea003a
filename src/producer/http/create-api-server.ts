import fastifyRateLimit from '@fastify/rate-limit';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import { Queue } from 'bullmq';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import {
  createJsonSchemaTransform,
  jsonSchemaTransformObject,
  validatorCompiler,
} from 'fastify-type-provider-zod';

import { ConfigError } from '../../shared/config.ts';
import { INGEST_QUEUE } from '../../shared/contracts.ts';
import { createLogger } from '../../shared/logger.ts';
import { eventStreamOptions } from '../../shared/queue-options.ts';
import { createRedisConnection, type Redis, waitUntilReady } from '../../shared/redis.ts';
import { describeRedis } from '../../shared/redis-settings.ts';
import { SECOND } from '../../shared/time.ts';
import { Admission, describeFullness } from '../admission.ts';
import { AskqClient } from '../askq-client.ts';
import { ApiMetrics } from './api-metrics.ts';
import { API_SERVER_DEFAULTS, type ApiServerOptions } from './api-server-options.ts';
import { bearerAuth } from './bearer-auth.ts';
import { mountBullBoard } from './bull-board.ts';
import { JobWaiter } from './job-waiter.ts';
import { registerJsonBodyParser } from './json-body-parser.ts';
import { KeyQuota } from './key-quota.ts';
import { opsRoutes } from './ops-routes.ts';
import { HttpProblem } from './problem.ts';
import { installProblemHandlers } from './problem-handlers.ts';
import { questionRoutes } from './question-routes.ts';
import { echoRequestId, requestIdOf } from './request-id.ts';

export type { ApiServerOptions } from './api-server-options.ts';
export { apiServerOptionsFromConfig } from './api-server-options.ts';

/** A built API; `listen()` starts serving, `close()` stops it and everything it opened. */
export interface ApiServer {
  app: FastifyInstance;
  /** Listens on `PORT` / `ASKQ_HOST` (or the given port); resolves with the address. */
  listen(port?: number): Promise<string>;
  /** Releases long polls, closes the server, the queues and the Redis connections. */
  close(): Promise<void>;
}

const API_VERSION = '1.0.0';

/**
 * Builds the HTTP API and Bull Board (`askq serve`) on one producer connection with no
 * offline queue, so a request fails fast (503) while Redis is down instead of hanging.
 * Refuses to build without API keys unless ASKQ_ALLOW_ANONYMOUS=true.
 */
export async function createApiServer(options: ApiServerOptions = {}): Promise<ApiServer> {
  const o = { ...API_SERVER_DEFAULTS, ...stripUndefined(options) };
  if (o.apiKeys.length === 0 && o.adminKeys.length === 0 && !o.allowAnonymous) {
    throw new ConfigError([
      'ASKQ_API_KEYS (apiKeys): the HTTP API needs at least one key (comma-separated); ' +
        'set ASKQ_ALLOW_ANONYMOUS=true (allowAnonymous) to run it open on purpose',
    ]);
  }
  const logger = o.logger ?? createLogger({ level: o.logLevel, name: 'askq-api' });
  const redis = o.redis ?? o.redisUrl;
  const connection = createRedisConnection(redis, 'producer');
  // Give Redis a moment before serving: until the connection is up the shared rate limiter
  // is skipped (skipOnError) and every enqueue answers 503. A Redis that is down at start is
  // not fatal: the API serves 503s and recovers when it comes back.
  await waitUntilReady(connection, 5 * SECOND).catch(() => {
    logger.warn({ redis: describeRedis(redis) }, 'Redis not ready at start; serving 503s');
  });
  const admission = new Admission(connection, {
    highWaterPercent: o.redisHighWaterPercent,
    onUnbounded: (message) => logger.warn(message),
    onChange: (state, previous) => {
      if (state.state === 'refusing') {
        logger.warn({ redisMemory: state }, `refusing new questions: ${describeFullness(state)}`);
      } else if (previous?.state === 'refusing') {
        logger.info(
          { redisMemory: state },
          `accepting questions again: ${describeFullness(state)}`,
        );
      }
    },
  });
  // Read once now, so a Redis without maxmemory is reported at start rather than on first use.
  await admission.state().catch(() => {});
  const client = new AskqClient({
    redis,
    prefix: o.prefix,
    waitReplicas: o.waitReplicas,
    waitTimeoutMs: o.waitTimeoutMs,
    keepCompleted: o.keepCompleted,
    eventsMaxLen: o.eventsMaxLen,
    keepFailed: o.keepFailed,
    keepSeconds: o.keepSeconds,
    connection,
    admission,
    logger,
    // One addBulk per batch (unless close to the high-water mark); a batch Redis refuses
    // part-way is removed again, so it is all or nothing.
    bulkChunkSize: o.maxBatch,
  });
  const ingestQueue = new Queue(INGEST_QUEUE, {
    connection,
    prefix: o.prefix,
    ...eventStreamOptions(o.eventsMaxLen),
  });
  ingestQueue.on('error', () => {});
  const queues = [client.queue, ingestQueue];
  const waiter = new JobWaiter({ redis, prefix: o.prefix });
  const metrics = new ApiMetrics();

  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    // A line per request would dominate the logs at thousands of requests a second; request
    // metrics cover them, and failures are logged by the error handler.
    logController: new LogController({
      disableRequestLogging: true,
      requestIdLogLabel: 'requestId',
    }),
    bodyLimit: o.bodyLimitBytes,
    // A caller's X-Request-Id when it is a sane token, else a fresh UUID (see request-id.ts).
    requestIdHeader: false,
    genReqId: requestIdOf,
    return503OnClosing: true,
  });
  registerJsonBodyParser(app);
  echoRequestId(app);
  installProblemHandlers(app, { isRedisReady: () => connection.status === 'ready' });
  metrics.instrument(app);

  await app.register(fastifySwagger, {
    openapi: {
      info: {
        title: 'askq',
        version: API_VERSION,
        description: 'Enqueue questions, wait for and read their answers.',
      },
      components: { securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer' } } },
    },
    transform: createJsonSchemaTransform({ skipList: ['/docs', '/docs/*', '/docs/json'] }),
    transformObject: jsonSchemaTransformObject,
  });
  await app.register(fastifySwaggerUi, { routePrefix: '/docs' });

  metrics.observeAdmission(admission);
  await app.register(opsRoutes, {
    connection,
    metrics,
    queues,
    admission,
    skipEvictionCheck: o.skipEvictionCheck,
  });
  await app.register(async (v1) => {
    v1.setValidatorCompiler(validatorCompiler);
    // Responses are plain JSON; the zod response schemas are there for the OpenAPI document.
    v1.setSerializerCompiler(() => (data) => JSON.stringify(data));
    v1.addHook(
      'onRequest',
      bearerAuth({ keys: o.apiKeys, adminKeys: o.adminKeys, allowAnonymous: o.allowAnonymous }),
    );
    await v1.register(fastifyRateLimit, rateLimitOptions(o, connection));
    await v1.register(questionRoutes, {
      client,
      waiter,
      maxBatch: o.maxBatch,
      evalPriority: o.evalPriority,
      quota: new KeyQuota({
        redis: connection,
        prefix: o.prefix,
        questionsPerMinute: o.keyQuestionsPerMin,
        maxPending: o.keyMaxPending,
      }),
    });
  });
  if (o.board) {
    await mountBullBoard(app, {
      queues,
      admission,
      redis: connection,
      prefix: o.prefix,
      ...o.board,
    });
  }

  let closing: Promise<void> | undefined;
  return {
    app,
    listen: (port = o.port) => app.listen({ port, host: o.host }),
    close: () =>
      (closing ??= (async () => {
        await waiter.close();
        await app.close();
        await ingestQueue.close();
        await client.close();
        await connection.quit().catch(() => connection.disconnect());
      })()),
  };
}

/**
 * Per-caller limits shared by every API process through Redis. The bucket is the key's
 * fingerprint (never the key). Checked before the body is read, so a flood of bad bodies is
 * limited too; while Redis is down the check is skipped and the request fails with 503 anyway.
 */
function rateLimitOptions(
  o: { prefix: string; rateLimitMax: number; rateLimitWindowMs: number },
  connection: Redis,
) {
  return {
    global: true,
    hook: 'preParsing' as const,
    redis: connection,
    nameSpace: `${o.prefix}:api-rate-limit:`,
    max: o.rateLimitMax,
    timeWindow: o.rateLimitWindowMs,
    skipOnError: true,
    keyGenerator: (request: { askqPrincipal: string }) => request.askqPrincipal,
    errorResponseBuilder: (
      _request: unknown,
      context: { max: number; ttl: number; after: string },
    ) =>
      new HttpProblem(
        429,
        'rate-limited',
        `more than ${context.max} requests per ${o.rateLimitWindowMs / 1000} s for this key; retry in ${context.after}`,
        { headers: { 'Retry-After': String(Math.max(1, Math.ceil(context.ttl / 1000))) } },
      ),
  };
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
