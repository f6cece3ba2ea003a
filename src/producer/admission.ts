import { Cluster } from 'ioredis';

import { DEFAULTS } from '../shared/defaults.ts';
import { isRedisOomError, QueueFullError } from '../shared/errors.ts';
import { createRedisConnection, type Redis, waitUntilReady } from '../shared/redis.ts';
import type { RedisTarget } from '../shared/redis-settings.ts';
import { SECOND } from '../shared/time.ts';

/** Redis memory as one `INFO memory` reading saw it, judged against the high-water mark. */
export interface AdmissionState {
  /** `accepting` below the mark, `refusing` at or past it, `unbounded` without `maxmemory`. */
  state: 'accepting' | 'refusing' | 'unbounded';
  usedBytes: number;
  /** Redis's `maxmemory`; 0 when unset. */
  maxBytes: number;
  /** Where producers stop enqueueing; 0 when `maxmemory` is unset. */
  highWaterBytes: number;
}

export interface AdmissionOptions {
  /** Percent of `maxmemory` past which new work is refused. @defaultValue 85 */
  highWaterPercent?: number;
  /**
   * How long one `INFO memory` reading is reused by every caller on the connection. Within
   * 90 % of the mark every check reads afresh (concurrent checks still share one
   * read), so a burst cannot run far past it on a stale reading. @defaultValue 250
   */
  readingTtlMs?: number;
  /** The `Retry-After` a refusal suggests. @defaultValue 5000 */
  retryAfterMs?: number;
  /** Called once when Redis has no `maxmemory` (it can grow until the machine runs out). */
  onUnbounded?: (message: string) => void;
  /** Called when a reading changes the state (starts or stops refusing), with that reading. */
  onChange?: (state: AdmissionState, previous: AdmissionState | undefined) => void;
}

export const ADMISSION_DEFAULTS = {
  highWaterPercent: DEFAULTS.redisHighWaterPercent,
  readingTtlMs: 250,
  retryAfterMs: 5 * SECOND,
} satisfies AdmissionOptions;

/** How long a check waits for a connection that has not connected yet. */
const FIRST_CONNECT_WAIT_MS = 5 * SECOND;

/** Fraction of the high-water mark from which readings are no longer reused. */
const NEAR_MARK = 0.9;

/**
 * What a job costs Redis besides its data: the job hash's other fields and options, its
 * entry in the wait list and the events stream (measured: about 1.4 KiB with askq's options).
 */
const JOB_OVERHEAD_BYTES = 1536;

export const UNBOUNDED_WARNING =
  'Redis has no maxmemory: it can grow until the machine runs out of memory, and askq cannot ' +
  'refuse work before it does. Set maxmemory (with maxmemory-policy noeviction).';

interface Reading {
  usedBytes: number;
  maxBytes: number;
  at: number;
}

/** One in-flight or recent reading per connection, so a process asks Redis at most once per TTL. */
const readings = new WeakMap<
  Redis,
  { reading?: Reading; pending?: Promise<Reading>; firstConnect?: Promise<void> }
>();

/**
 * Admission control for producers: refuses new questions once Redis's `used_memory` passes
 * the high-water mark, so completions, retries and the answer cache keep room below
 * `maxmemory`. One cached `INFO memory` per connection and TTL, never one per job.
 */
export class Admission {
  readonly #opts: Required<Omit<AdmissionOptions, 'onUnbounded' | 'onChange'>>;
  readonly #onUnbounded: AdmissionOptions['onUnbounded'];
  readonly #onChange: AdmissionOptions['onChange'];
  #warned = false;
  #last: AdmissionState | undefined;
  /** Bytes {@link Admission.admit} granted on the current reading, not yet in it. */
  #granted = 0;
  #grantedOn = 0;
  readonly #connection: Redis;

  constructor(connection: Redis, options: AdmissionOptions = {}) {
    this.#connection = connection;
    this.#opts = {
      highWaterPercent: options.highWaterPercent ?? ADMISSION_DEFAULTS.highWaterPercent,
      readingTtlMs: options.readingTtlMs ?? ADMISSION_DEFAULTS.readingTtlMs,
      retryAfterMs: options.retryAfterMs ?? ADMISSION_DEFAULTS.retryAfterMs,
    };
    this.#onUnbounded = options.onUnbounded;
    this.#onChange = options.onChange;
  }

  /** The last state read, without asking Redis (for synchronous displays). */
  get latest(): AdmissionState | undefined {
    return this.#last;
  }

  /** Memory against the mark, from a reading at most `readingTtlMs` old. */
  async state(): Promise<AdmissionState> {
    const ttl = this.#nearMark() ? 0 : this.#opts.readingTtlMs;
    const { usedBytes, maxBytes, at } = await readMemory(this.#connection, ttl);
    if (at !== this.#grantedOn) {
      // A new reading includes what was granted before it (those writes have been sent).
      this.#granted = 0;
      this.#grantedOn = at;
    }
    const highWaterBytes = Math.floor((maxBytes * this.#opts.highWaterPercent) / 100);
    const state =
      maxBytes === 0 ? 'unbounded' : usedBytes >= highWaterBytes ? 'refusing' : 'accepting';
    if (state === 'unbounded' && !this.#warned) {
      this.#warned = true;
      this.#onUnbounded?.(UNBOUNDED_WARNING);
    }
    const previous = this.#last;
    this.#last = { state, usedBytes, maxBytes, highWaterBytes };
    if (previous?.state !== state) this.#onChange?.(this.#last, previous);
    return this.#last;
  }

  /**
   * Resolves when new work may be enqueued, with how many of the `wanted` jobs of about
   * `jobBytes` each (see {@link estimateJobBytes}) fit below the mark, counting what
   * concurrent callers were granted on the same reading. So a big batch, or several at once,
   * cannot run from below the mark into OOM, where workers could not write their results
   * either. Throws {@link QueueFullError} when not one fits.
   */
  async admit(jobBytes = 0, wanted = Infinity): Promise<number> {
    const current = await this.state();
    if (current.state === 'refusing') throw this.#full(describeFullness(current), current);
    if (current.state === 'unbounded' || jobBytes <= 0) return wanted;
    const room = current.highWaterBytes - current.usedBytes - this.#granted;
    const allowed = Math.min(wanted, Math.floor(room / jobBytes));
    if (allowed < 1) {
      const pending = `${mib(this.#granted)} more being written`;
      throw this.#full(`${describeFullness(current)}, with ${pending}`, current);
    }
    this.#granted += allowed * jobBytes;
    return allowed;
  }

  #nearMark(): boolean {
    const last = this.#last;
    if (last === undefined || last.state === 'unbounded') return false;
    return last.usedBytes >= last.highWaterBytes * NEAR_MARK;
  }

  /** An OOM refusal from Redis as a {@link QueueFullError}; any other error unchanged. */
  fromRedisError(err: unknown): unknown {
    if (!isRedisOomError(err)) return err;
    return this.#full('Redis is out of memory (maxmemory reached)', this.#last, err);
  }

  #full(reason: string, memory: AdmissionState | undefined, cause?: unknown): QueueFullError {
    const seconds = Math.ceil(this.#opts.retryAfterMs / SECOND);
    return new QueueFullError(`the queue is full: ${reason}; retry in ${seconds} s`, {
      retryAfterMs: this.#opts.retryAfterMs,
      ...(memory
        ? {
            memory: {
              usedBytes: memory.usedBytes,
              highWaterBytes: memory.highWaterBytes,
              maxBytes: memory.maxBytes,
            },
          }
        : {}),
      ...(cause === undefined ? {} : { cause }),
    });
  }
}

/** About what the jobs with this data cost Redis each, on average. */
export function estimateJobBytes(data: readonly unknown[]): number {
  if (data.length === 0) return 0;
  const bytes = data.reduce<number>((sum, d) => sum + JSON.stringify(d).length, 0);
  return Math.ceil(bytes / data.length) + JOB_OVERHEAD_BYTES;
}

/** "Redis uses 7.1 MiB, past its high-water mark of 6.8 MiB (85 % of 8.0 MiB)". */
export function describeFullness(s: AdmissionState): string {
  if (s.state === 'unbounded') return `Redis uses ${mib(s.usedBytes)} (no maxmemory)`;
  const percent = Math.round((s.highWaterBytes / s.maxBytes) * 100);
  const where = s.state === 'refusing' ? 'past' : 'below';
  return `Redis uses ${mib(s.usedBytes)}, ${where} its high-water mark of ${mib(s.highWaterBytes)} (${percent} % of ${mib(s.maxBytes)})`;
}

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

async function readMemory(connection: Redis, ttlMs: number): Promise<Reading> {
  let entry = readings.get(connection);
  if (!entry) readings.set(connection, (entry = {}));
  if (['wait', 'connecting', 'connect'].includes(connection.status)) {
    // A producer connection has no offline queue: give a fresh one its first connect (as
    // BullMQ does before its first command), once; concurrent callers share the wait. Later,
    // while Redis is down (reconnecting), INFO fails at once and the caller answers
    // "unavailable" without waiting.
    entry.firstConnect ??= waitUntilReady(connection, FIRST_CONNECT_WAIT_MS).catch(() => {});
    await entry.firstConnect;
  }
  if (entry.reading && Date.now() - entry.reading.at < ttlMs) return entry.reading;
  entry.pending ??= fullestMemory(connection)
    .then((memory) => (entry.reading = { ...memory, at: Date.now() }))
    .finally(() => (entry.pending = undefined));
  return entry.pending;
}

/**
 * `INFO memory` of a standalone or Sentinel master; on a cluster, of every master, keeping the
 * fullest (highest share of its `maxmemory`). Checking every master rather than the one that
 * holds the prefix's hash slot keeps the check right for any prefix and any key placement,
 * at the price of refusing when an unrelated master is full.
 */
async function fullestMemory(connection: Redis): Promise<{ usedBytes: number; maxBytes: number }> {
  if (!(connection instanceof Cluster)) return parseMemoryInfo(await connection.info('memory'));
  const masters = connection.nodes('master');
  if (masters.length === 0) throw new Error('the cluster client knows no masters yet');
  const readings = await Promise.all(
    masters.map(async (node) => parseMemoryInfo(await node.info('memory'))),
  );
  return fullestOf(readings);
}

/**
 * The reading with the highest share of its `maxmemory`. A master without `maxmemory` counts
 * only when none has one (then the largest, and the cluster is unbounded).
 */
export function fullestOf<T extends { usedBytes: number; maxBytes: number }>(
  readings: readonly T[],
): T {
  const share = (r: T) => (r.maxBytes > 0 ? r.usedBytes / r.maxBytes : -1);
  return readings.reduce((a, b) =>
    share(b) > share(a) || (share(a) < 0 && share(b) < 0 && b.usedBytes > a.usedBytes) ? b : a,
  );
}

/** `used_memory` and `maxmemory` from `INFO memory` text. */
export function parseMemoryInfo(text: string): { usedBytes: number; maxBytes: number } {
  const field = (name: string) => Number(new RegExp(`^${name}:(\\d+)`, 'm').exec(text)?.[1] ?? 0);
  return { usedBytes: field('used_memory'), maxBytes: field('maxmemory') };
}

/** Calls `warn` with {@link UNBOUNDED_WARNING} when the Redis at `target` has no `maxmemory`. */
export async function warnIfUnbounded(
  target: RedisTarget,
  warn: (message: string) => void,
): Promise<void> {
  const connection = createRedisConnection(target, 'producer');
  try {
    await waitUntilReady(connection, FIRST_CONNECT_WAIT_MS);
    await new Admission(connection, { onUnbounded: warn }).state();
  } catch {
    // Redis not answering is reported by whoever needs it; this is only a hint.
  } finally {
    connection.disconnect();
  }
}
