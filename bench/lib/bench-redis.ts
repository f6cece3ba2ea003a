import { type LocalRedis, startLocalRedis } from '../../src/shared/local-redis.ts';
import { redactRedisUrl } from '../../src/shared/redis-settings.ts';

/**
 * The variable naming an external Redis for the benchmarks (`npm run bench -- --redis-url …`
 * sets it for each benchmark's process). REDIS_URL is never read: a shell's REDIS_URL naming a
 * Redis that is down, busy or someone else's must not decide what a benchmark measures.
 */
export const BENCH_REDIS_ENV = 'ASKQ_BENCH_REDIS_URL';

/**
 * Benchmarks that always start their own redis-server, with the reason: they empty it or
 * measure the server itself, which an external Redis must not be subjected to or would blur.
 */
export const PRIVATE_ONLY: Readonly<Record<string, string>> = {
  'orchestration-overhead': 'empties its Redis between sides (FLUSHDB)',
  'llm-scaling': "measures the Redis process's CPU",
  'redis-memory': "measures the server's used_memory and empties it (FLUSHDB)",
  'http-enqueue': 'empties its Redis between scenarios (FLUSHDB)',
};

/** The Redis one benchmark runs against. */
export interface BenchRedis {
  url: string;
  /** The private server's process id; undefined for an external Redis. */
  pid: number | undefined;
  /** How the results describe it: `private redis-server` or the external URL, password redacted. */
  description: string;
  /** Stops a private server; leaves an external one alone. */
  stop(): Promise<void>;
}

/**
 * A private redis-server (`noeviction`, no persistence) for benchmark `id`, unless
 * ASKQ_BENCH_REDIS_URL names an external one and the benchmark can run against it.
 */
export async function benchRedis(id: string): Promise<BenchRedis> {
  const external = process.env[BENCH_REDIS_ENV]?.trim();
  if (external && PRIVATE_ONLY[id] === undefined) {
    return {
      url: external,
      pid: undefined,
      description: `external Redis ${redactRedisUrl(external)}`,
      stop: async () => {},
    };
  }
  if (external) {
    process.stderr.write(
      `${id}: runs on its own redis-server, not ${BENCH_REDIS_ENV}: it ${PRIVATE_ONLY[id]}\n`,
    );
  }
  const local: LocalRedis = await startLocalRedis();
  return {
    url: local.url,
    pid: local.process.pid,
    description: 'private redis-server',
    stop: () => local.stop(),
  };
}
