import type { Redis } from '../redis.ts';
import {
  type BatchOutcome,
  batchOutcomeSchema,
  type BatchRecord,
  batchRecordSchema,
  type BatchRunMeta,
  batchRunMetaSchema,
} from './batch-lane.ts';

/**
 * Adds a request line unless the case already has one, queues it for the next batch, and
 * returns the chunk now gathering requests. One script: a crash never leaves a line stored
 * but not queued.
 */
const ADD_LINE = `
if redis.call('hsetnx', KEYS[1], ARGV[1], ARGV[2]) == 1 then
  redis.call('rpush', KEYS[2], ARGV[1])
end
if ARGV[4] ~= '' then redis.call('hset', KEYS[4], ARGV[1], ARGV[4]) end
for i = 1, 4 do redis.call('expire', KEYS[i], ARGV[3]) end
return tonumber(redis.call('get', KEYS[3]) or '0')`;

/**
 * Seals chunk ARGV[1]: moves up to ARGV[2] queued requests (at most ARGV[3] bytes of lines)
 * into the chunk's member list and opens the next chunk. Idempotent: a chunk already sealed
 * is left as it is. Returns {sealed now (1/0), requests still queued}.
 */
const SEAL = `
local open = tonumber(redis.call('get', KEYS[1]) or '0')
if open ~= tonumber(ARGV[1]) then return {0, redis.call('llen', KEYS[2])} end
local count, bytes = 0, 0
while count < tonumber(ARGV[2]) do
  local id = redis.call('lindex', KEYS[2], 0)
  if not id then break end
  local size = redis.call('hstrlen', KEYS[4], id) + 1
  if count > 0 and bytes + size > tonumber(ARGV[3]) then break end
  redis.call('lpop', KEYS[2])
  redis.call('rpush', KEYS[3], id)
  count = count + 1
  bytes = bytes + size
end
redis.call('set', KEYS[1], open + 1, 'EX', ARGV[4])
redis.call('expire', KEYS[3], ARGV[4])
return {1, redis.call('llen', KEYS[2])}`;

/**
 * A run's batch lane in Redis, under `<prefix>:eval-batch-lane:<runId>:*`, every key expiring
 * after `ttlSeconds` (the run's retention):
 *
 * - `lines` (hash case job id → Batch API request line), `pending` (list of ids waiting for a
 *   batch), `open` (the chunk gathering requests), `chunk:<n>` (list: the ids in batch n);
 * - `batches` (hash chunk → {@link BatchRecord}): file and batch ids, saved before anything
 *   depends on them;
 * - `outcomes` (hash id → {@link BatchOutcome}), `tries` (hash id → batches tried) and
 *   `traces` (hash id → the case's trace, for span links);
 * - `meta` ({@link BatchRunMeta}) and `cancelled`.
 */
export class BatchStore {
  readonly runId: string;
  private readonly base: string;
  private readonly redis: Redis;
  private readonly ttlSeconds: number;

  constructor(redis: Redis, prefix: string, runId: string, ttlSeconds: number) {
    this.redis = redis;
    this.runId = runId;
    this.ttlSeconds = ttlSeconds;
    this.base = `${prefix}:eval-batch-lane:${runId}`;
  }

  private key(name: string): string {
    return `${this.base}:${name}`;
  }

  async saveMeta(meta: BatchRunMeta): Promise<void> {
    await this.redis.set(this.key('meta'), JSON.stringify(meta), 'EX', this.ttlSeconds);
  }

  async meta(): Promise<BatchRunMeta | undefined> {
    const text = await this.redis.get(this.key('meta'));
    return text ? batchRunMetaSchema.parse(JSON.parse(text)) : undefined;
  }

  /**
   * Stores a case's request line (once) with the case's trace (for span links) and returns
   * the chunk gathering requests.
   */
  async addLine(
    id: string,
    line: string,
    traceIds?: { traceId: string; spanId: string },
  ): Promise<number> {
    const open = await this.redis.eval(
      ADD_LINE,
      4,
      this.key('lines'),
      this.key('pending'),
      this.key('open'),
      this.key('traces'),
      id,
      line,
      this.ttlSeconds,
      traceIds ? `${traceIds.traceId}-${traceIds.spanId}` : '',
    );
    return Number(open);
  }

  /** The traces of these cases, where they were recorded. */
  async traces(ids: string[]): Promise<{ traceId: string; spanId: string }[]> {
    if (ids.length === 0) return [];
    const values = await this.redis.hmget(this.key('traces'), ...ids);
    return values.flatMap((v) => {
      const [traceId, spanId] = v?.split('-') ?? [];
      return traceId && spanId ? [{ traceId, spanId }] : [];
    });
  }

  async hasLine(id: string): Promise<boolean> {
    return (await this.redis.hexists(this.key('lines'), id)) === 1;
  }

  async pendingCount(): Promise<number> {
    return this.redis.llen(this.key('pending'));
  }

  async openChunk(): Promise<number> {
    return Number((await this.redis.get(this.key('open'))) ?? 0);
  }

  /** Seals `chunk` (see SEAL); returns whether requests are still queued for a later chunk. */
  async seal(chunk: number, limits: { maxRequests: number; maxBytes: number }) {
    const [, left] = (await this.redis.eval(
      SEAL,
      4,
      this.key('open'),
      this.key('pending'),
      this.key(`chunk:${chunk}`),
      this.key('lines'),
      chunk,
      limits.maxRequests,
      limits.maxBytes,
      this.ttlSeconds,
    )) as [number, number];
    return { queued: left };
  }

  /** The case ids in batch `chunk`. */
  async chunkIds(chunk: number): Promise<string[]> {
    return this.redis.lrange(this.key(`chunk:${chunk}`), 0, -1);
  }

  /** The request lines of these cases, in order (missing ones left out). */
  async lines(ids: string[]): Promise<string[]> {
    if (ids.length === 0) return [];
    const values = await this.redis.hmget(this.key('lines'), ...ids);
    return values.filter((v): v is string => v !== null);
  }

  async record(chunk: number): Promise<BatchRecord | undefined> {
    const text = await this.redis.hget(this.key('batches'), String(chunk));
    return text ? batchRecordSchema.parse(JSON.parse(text)) : undefined;
  }

  /** Every batch of the run, by chunk. */
  async records(): Promise<BatchRecord[]> {
    const all = await this.redis.hgetall(this.key('batches'));
    return Object.values(all)
      .map((text) => batchRecordSchema.parse(JSON.parse(text)))
      .sort((a, b) => a.chunk - b.chunk);
  }

  async saveRecord(record: BatchRecord): Promise<void> {
    await this.redis
      .multi()
      .hset(this.key('batches'), String(record.chunk), JSON.stringify(record))
      .expire(this.key('batches'), this.ttlSeconds)
      .exec();
  }

  async outcome(id: string): Promise<BatchOutcome | undefined> {
    const text = await this.redis.hget(this.key('outcomes'), id);
    return text ? batchOutcomeSchema.parse(JSON.parse(text)) : undefined;
  }

  /** Batches each case was sent in so far. */
  async tries(ids: string[]): Promise<number[]> {
    if (ids.length === 0) return [];
    const values = await this.redis.hmget(this.key('tries'), ...ids);
    return values.map((v) => Number(v ?? 0));
  }

  /**
   * Hands a finished batch to its cases in one transaction: the outcomes, the requests sent
   * to a later batch (queued again, their tries counted), the record marked collected. A
   * collection cut short by a crash is therefore either not done at all or done whole.
   * Returns the chunk gathering requests.
   */
  async settle(
    record: BatchRecord,
    outcomes: Map<string, BatchOutcome>,
    requeue: string[],
  ): Promise<number> {
    const tx = this.redis.multi();
    if (outcomes.size > 0) {
      const fields = [...outcomes].flatMap(([id, o]) => [id, JSON.stringify(o)]);
      tx.hset(this.key('outcomes'), ...fields).expire(this.key('outcomes'), this.ttlSeconds);
      // Answered and errored cases need their line no more; online ones are answered in place.
      tx.hdel(this.key('lines'), ...outcomes.keys());
    }
    if (requeue.length > 0) {
      tx.rpush(this.key('pending'), ...requeue).expire(this.key('pending'), this.ttlSeconds);
      for (const id of requeue) tx.hincrby(this.key('tries'), id, 1);
      tx.expire(this.key('tries'), this.ttlSeconds);
    }
    tx.hset(this.key('batches'), String(record.chunk), JSON.stringify(record));
    tx.get(this.key('open'));
    const replies = (await tx.exec()) ?? [];
    const [err, open] = replies.at(-1) ?? [];
    if (err) throw err;
    return Number(open ?? 0);
  }

  /** Forgets what the lane knows of a case, so running it again (`--retry-errors`) starts afresh. */
  async forget(id: string): Promise<void> {
    await this.redis
      .multi()
      .hdel(this.key('outcomes'), id)
      .hdel(this.key('tries'), id)
      .hdel(this.key('lines'), id)
      .exec();
  }

  /** Marks the run cancelled: no new batch is submitted, unanswered cases end in error. */
  async cancel(): Promise<void> {
    await this.redis.set(this.key('cancelled'), '1', 'EX', this.ttlSeconds);
  }

  /** Lifts the cancel mark (a resume runs the run's cancelled cases again). */
  async forgetCancellation(): Promise<void> {
    await this.redis.del(this.key('cancelled'));
  }

  async isCancelled(): Promise<boolean> {
    return (await this.redis.exists(this.key('cancelled'))) === 1;
  }
}
