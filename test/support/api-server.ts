import type { AddressInfo } from 'node:net';

import { Queue } from 'bullmq';

import {
  type ApiServer,
  apiServerOptionsFromConfig,
  createApiServer,
} from '../../src/producer/http/create-api-server.ts';
import type { Config } from '../../src/shared/config.ts';
import { QUESTIONS_QUEUE } from '../../src/shared/contracts.ts';
import { createRedisConnection, type Redis } from '../../src/shared/redis.ts';
import { redisSettingsFrom } from '../../src/shared/redis-settings.ts';
import { testConfig } from './config.ts';
import { deletePrefix, uniquePrefix } from './redis.ts';
import { release, track } from './resources.ts';

/** Keys test servers accept; long and distinctive, so log scans can look for them. */
export const TEST_API_KEY = 'test-key-0123456789abcdef-0123456789abcd';
export const OTHER_API_KEY = 'other-key-fedcba9876543210-fedcba987654';
/** An ASKQ_ADMIN_KEYS key of test servers: it may read and cancel every question. */
export const ADMIN_API_KEY = 'admin-key-55aa55aa55aa55aa-55aa55aa55aa';

/** A built API on a prefix of its own, with a queue and a connection to look at what it did. */
export interface TestApi {
  server: ApiServer;
  config: Config;
  /** The questions queue, as a foreign producer sees it. */
  queue: Queue;
  redis: Redis;
  /** `http://127.0.0.1:<port>` once {@link TestApi.listen} resolved. */
  url: string;
  listen(): Promise<string>;
  /** Jobs in every state plus the id counter: "enqueued nothing" means this is unchanged. */
  jobFootprint(): Promise<{ jobs: number; lastId: string | null }>;
  /** Closes the server and deletes the prefix's keys (unless the prefix was given). */
  close(): Promise<void>;
}

/**
 * Builds the API (not yet listening) for a test: test Redis, a unique prefix unless `env`
 * names one (to share a worker harness's), both test keys.
 */
export async function startTestApi(env: Record<string, string> = {}): Promise<TestApi> {
  const ownPrefix = env.ASKQ_PREFIX === undefined;
  const config = testConfig({
    ASKQ_PREFIX: uniquePrefix('api'),
    ASKQ_API_KEYS: `${TEST_API_KEY},${OTHER_API_KEY}`,
    ASKQ_ADMIN_KEYS: ADMIN_API_KEY,
    ...env,
  });
  const server = track(await createApiServer(apiServerOptionsFromConfig(config)), 'ApiServer');
  const redis = createRedisConnection(redisSettingsFrom(config), 'worker');
  const queue = new Queue(QUESTIONS_QUEUE, { connection: redis, prefix: config.ASKQ_PREFIX });
  const api: TestApi = {
    server,
    config,
    queue,
    redis,
    url: '',
    async listen() {
      await server.app.listen({ port: 0, host: '127.0.0.1' });
      const { port } = server.app.server.address() as AddressInfo;
      api.url = `http://127.0.0.1:${port}`;
      return api.url;
    },
    async jobFootprint() {
      const counts = await queue.getJobCounts();
      const jobs = Object.values(counts).reduce((a, b) => a + b, 0);
      return { jobs, lastId: await redis.get(`${config.ASKQ_PREFIX}:${QUESTIONS_QUEUE}:id`) };
    },
    async close() {
      await server.close();
      release(server);
      await queue.close();
      if (ownPrefix) await deletePrefix(redis, config.ASKQ_PREFIX);
      await redis.quit();
    },
  };
  return api;
}
