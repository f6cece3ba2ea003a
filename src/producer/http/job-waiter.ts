import type { EventEmitter } from 'node:events';

import { QueueEvents, QueueKeys } from 'bullmq';

import { QUESTIONS_QUEUE } from '../../shared/contracts.ts';
import { createRedisConnection, type Redis } from '../../shared/redis.ts';
import type { RedisTarget } from '../../shared/redis-settings.ts';
import { SECOND } from '../../shared/time.ts';

/** Longest a close waits for QueueEvents to say goodbye to Redis. */
const CLOSE_TIMEOUT_MS = 1 * SECOND;

/** The shared events reader: its connection at once, the reader once it has started. */
interface Reader {
  connection: Redis;
  started: Promise<Started>;
}

interface Started {
  events: QueueEvents;
  /** The same object, untyped: QueueEvents's typings do not list per-job `completed:<id>` events. */
  emitter: EventEmitter;
}

export interface JobWaiterOptions {
  redis: RedisTarget;
  prefix: string;
  /** How often a wait also reads the job's state. @defaultValue 2000 */
  recheckMs?: number;
  /** How long the events reader stays open after its last wait ends. @defaultValue 30000 */
  idleMs?: number;
}

/**
 * Long polls: resolves waits when a question completes or fails, from one shared QueueEvents
 * reader (its own blocking connection), however many requests are waiting.
 *
 * The reader runs only while someone waits, and `idleMs` after the last wait: reading the
 * events stream means decoding every event of every question, each `completed` one with the
 * whole answer, which a server that only enqueues would pay for nothing: an API server's CPU
 * per enqueued question, and the garbage of every worker's results.
 */
export class JobWaiter {
  readonly #redis: RedisTarget;
  readonly #prefix: string;
  readonly #eventsKey: string;
  readonly #recheckMs: number;
  readonly #idleMs: number;
  #reader: Reader | undefined;
  #waits = 0;
  #idleTimer: NodeJS.Timeout | undefined;
  readonly #pending = new Set<() => void>();
  #closed = false;

  constructor(options: JobWaiterOptions) {
    this.#redis = options.redis;
    this.#prefix = options.prefix;
    this.#eventsKey = new QueueKeys(options.prefix).toKey(QUESTIONS_QUEUE, 'events');
    this.#recheckMs = options.recheckMs ?? 2 * SECOND;
    this.#idleMs = options.idleMs ?? 30 * SECOND;
  }

  /**
   * Resolves when job `id` finishes, after `timeoutMs`, or when the waiter closes, whichever
   * comes first. `isFinished` runs once the listeners are in place, so a job finishing
   * between the caller's own check and this wait is not missed, and again every
   * `recheckMs`: the events stream is capped (ASKQ_EVENTS_MAX_LEN), so a finish event can be
   * trimmed before this listener reads it when the process lags behind a burst of enqueues.
   * Without a reader (Redis went away as it opened) the rechecks alone end the wait.
   */
  async wait(id: string, timeoutMs: number, isFinished: () => Promise<boolean>): Promise<void> {
    if (this.#closed) return;
    let release: () => void = () => {};
    const done = new Promise<void>((resolve) => (release = resolve));
    const finish = () => release();
    this.#pending.add(finish);
    this.#waits++;
    clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
    const timer = setTimeout(finish, timeoutMs);
    const recheck = setInterval(() => {
      isFinished().then(
        (finished) => finished && finish(),
        () => {},
      );
    }, this.#recheckMs);
    let emitter: EventEmitter | undefined;
    try {
      // Opening reads from Redis, which may not answer: the wait's own end comes first.
      const opened = this.#open().started.then(
        ({ emitter: e }) => e,
        () => undefined,
      );
      emitter = await Promise.race([opened, done.then(() => undefined)]);
      emitter?.on(`completed:${id}`, finish);
      emitter?.on(`failed:${id}`, finish);
      if (!(await isFinished())) await done;
    } finally {
      clearTimeout(timer);
      clearInterval(recheck);
      emitter?.off(`completed:${id}`, finish);
      emitter?.off(`failed:${id}`, finish);
      this.#pending.delete(finish);
      if (--this.#waits === 0 && !this.#closed) {
        this.#idleTimer = setTimeout(() => void this.#shut(), this.#idleMs).unref();
      }
    }
  }

  /** Releases every waiting request, then closes the reader and its connection, if open. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#idleTimer);
    for (const release of this.#pending) release();
    await this.#shut();
  }

  /** The running reader, or a new one; a failed start is forgotten, so the next wait retries. */
  #open(): Reader {
    if (this.#reader) return this.#reader;
    const connection = createRedisConnection(this.#redis, 'worker');
    const reader: Reader = { connection, started: this.#start(connection) };
    reader.started.catch(() => {
      if (this.#reader === reader) this.#reader = undefined;
      connection.disconnect();
    });
    this.#reader = reader;
    return reader;
  }

  async #start(connection: Redis): Promise<Started> {
    // The stream's newest entry, read before the reader starts, which goes on from there:
    // from `$` (BullMQ's default) it would skip a finish event written between this read
    // and its first one, after the waiter's first look at the job had found it unfinished.
    const [newest] = await connection.xrevrange(this.#eventsKey, '+', '-', 'COUNT', 1);
    const events = new QueueEvents(QUESTIONS_QUEUE, {
      connection,
      prefix: this.#prefix,
      lastEventId: newest?.[0] ?? '0-0',
    });
    events.on('error', () => {});
    const emitter = events as unknown as EventEmitter;
    // One listener pair per waiting request: the default cap of 10 would warn under load.
    emitter.setMaxListeners(0);
    return { events, emitter };
  }

  /** Closes the reader (a wait arriving meanwhile opens a new one). */
  async #shut(): Promise<void> {
    const reader = this.#reader;
    this.#reader = undefined;
    this.#idleTimer = undefined;
    if (!reader) return;
    // Disconnected first, so a start still waiting for Redis fails now instead of holding the
    // close. QueueEvents's close ends with a QUIT that waits for Redis when it is down; bounded
    // too, so a shutdown during an outage still ends.
    reader.connection.disconnect();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      reader.started.then(({ events }) => events.close()).catch(() => {}),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, CLOSE_TIMEOUT_MS).unref())),
    ]);
    clearTimeout(timer);
  }
}
