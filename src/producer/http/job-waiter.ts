import type { EventEmitter } from 'node:events';

import { QueueEvents } from 'bullmq';

import { QUESTIONS_QUEUE } from '../../shared/contracts.ts';
import { createRedisConnection, type Redis } from '../../shared/redis.ts';
import type { RedisTarget } from '../../shared/redis-settings.ts';
import { SECOND } from '../../shared/time.ts';

/** Longest a close waits for QueueEvents to say goodbye to Redis. */
const CLOSE_TIMEOUT_MS = 1 * SECOND;

/**
 * Long polls: resolves waits when a question completes or fails, from one shared QueueEvents
 * stream (its own blocking connection), however many requests are waiting.
 */
export class JobWaiter {
  readonly #connection: Redis;
  readonly #events: QueueEvents;
  /** The same object, untyped: QueueEvents's typings do not list per-job `completed:<id>` events. */
  readonly #emitter: EventEmitter;
  readonly #pending = new Set<() => void>();
  readonly #recheckMs: number;

  /** `recheckMs`: how often a wait also reads the job's state. @defaultValue 2000 */
  constructor(options: { redis: RedisTarget; prefix: string; recheckMs?: number }) {
    this.#recheckMs = options.recheckMs ?? 2 * SECOND;
    this.#connection = createRedisConnection(options.redis, 'worker');
    this.#events = new QueueEvents(QUESTIONS_QUEUE, {
      connection: this.#connection,
      prefix: options.prefix,
    });
    this.#events.on('error', () => {});
    this.#emitter = this.#events as unknown as EventEmitter;
    // One listener pair per waiting request: the default cap of 10 would warn under load.
    this.#emitter.setMaxListeners(0);
  }

  async waitUntilReady(): Promise<void> {
    await this.#events.waitUntilReady();
  }

  /**
   * Resolves when job `id` finishes, after `timeoutMs`, or when the waiter closes, whichever
   * comes first. `isFinished` runs once the listeners are in place, so a job finishing
   * between the caller's own check and this wait is not missed, and again every
   * `recheckMs`: the events stream is capped (ASKQ_EVENTS_MAX_LEN), so a finish event can be
   * trimmed before this listener reads it when the process lags behind a burst of enqueues.
   */
  async wait(id: string, timeoutMs: number, isFinished: () => Promise<boolean>): Promise<void> {
    let release: () => void = () => {};
    const done = new Promise<void>((resolve) => (release = resolve));
    const finish = () => release();
    const timer = setTimeout(finish, timeoutMs);
    const recheck = setInterval(() => {
      isFinished().then(
        (finished) => finished && finish(),
        () => {},
      );
    }, this.#recheckMs);
    this.#emitter.on(`completed:${id}`, finish);
    this.#emitter.on(`failed:${id}`, finish);
    this.#pending.add(finish);
    try {
      if (!(await isFinished())) await done;
    } finally {
      clearTimeout(timer);
      clearInterval(recheck);
      this.#emitter.off(`completed:${id}`, finish);
      this.#emitter.off(`failed:${id}`, finish);
      this.#pending.delete(finish);
    }
  }

  /** Releases every waiting request, then closes the stream and its connection. */
  async close(): Promise<void> {
    for (const release of this.#pending) release();
    this.#connection.disconnect();
    // QueueEvents's close ends with a QUIT that waits for Redis when it is down; bounded, so a
    // shutdown during an outage still ends (the connections are disconnected either way).
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.#events.close().catch(() => {}),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, CLOSE_TIMEOUT_MS).unref())),
    ]);
    clearTimeout(timer);
  }
}
