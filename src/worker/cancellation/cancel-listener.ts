import { UnrecoverableError, type Worker } from 'bullmq';

import type { Logger } from '../../shared/logger.ts';
import { duplicateConnection, type Redis } from '../../shared/redis.ts';
import {
  CANCEL_REQUESTED,
  cancelChannel,
  CANCELLED_REASON,
  parseCancelMessage,
} from '../../shared/tenancy/cancel-channel.ts';
import { MINUTE } from '../../shared/time.ts';

export interface CancelListenerOptions {
  /** A connection to copy: the subscription needs a connection of its own. */
  connection: Redis;
  prefix: string;
  logger: Logger;
  /**
   * How long a cancelled id is remembered, so a job that was between attempts (or not yet
   * tracked) when the request came is refused when it starts. @defaultValue 600000 (10 min)
   */
  rememberMs?: number;
}

export const CANCEL_LISTENER_DEFAULTS = {
  rememberMs: 10 * MINUTE,
} satisfies Partial<CancelListenerOptions>;

/** Most ids remembered at once; the oldest are forgotten first. */
const MAX_REMEMBERED = 100_000;

/**
 * The worker's end of cross-process cancellation. Producers publish job ids on the cancel
 * channel ({@link cancelChannel}); every worker process hears them, aborts the job's signal
 * through BullMQ's own `Worker.cancelJob` when it is running it, and remembers the id for a
 * while. The processor then fails the job with reason `cancelled` (see
 * {@link isCancelRequested}).
 */
export class CancelListener {
  private readonly subscriber: Redis;
  private readonly opts: CancelListenerOptions & typeof CANCEL_LISTENER_DEFAULTS;
  /** Cancelled id → when the request came; insertion order is age order. */
  private readonly recent = new Map<string, number>();
  private readonly workers: Worker[] = [];

  private constructor(subscriber: Redis, options: CancelListenerOptions) {
    this.subscriber = subscriber;
    this.opts = { ...CANCEL_LISTENER_DEFAULTS, ...options };
  }

  /** Subscribes; resolves once cancel requests are being heard. */
  static async start(options: CancelListenerOptions): Promise<CancelListener> {
    const subscriber = duplicateConnection(options.connection);
    subscriber.on('error', () => {});
    const listener = new CancelListener(subscriber, options);
    subscriber.on('message', (_channel: string, message: string) => listener.onMessage(message));
    await subscriber.subscribe(cancelChannel(options.prefix));
    return listener;
  }

  /** Lets cancel requests reach this worker's active jobs. */
  watch(worker: Worker): void {
    this.workers.push(worker);
  }

  /**
   * Whether a job starting now was asked to be cancelled lately. Only a request made after the
   * job was created counts: a job removed and added again under its id (an eval resume) runs.
   */
  wasCancelled(job: { id?: string | undefined; timestamp: number }): boolean {
    const at = job.id === undefined ? undefined : this.recent.get(job.id);
    return at !== undefined && at >= job.timestamp && Date.now() - at < this.opts.rememberMs;
  }

  async close(): Promise<void> {
    this.subscriber.disconnect();
  }

  private onMessage(message: string): void {
    const ids = parseCancelMessage(message);
    const now = Date.now();
    for (const id of ids) {
      this.recent.delete(id);
      this.recent.set(id, now);
      const running = this.workers.some((w) => w.cancelJob(id, CANCEL_REQUESTED));
      if (running) this.opts.logger.info({ job_id: id }, 'cancel requested: aborting the job');
    }
    this.forgetOld(now);
  }

  private forgetOld(now: number): void {
    for (const [id, at] of this.recent) {
      if (now - at < this.opts.rememberMs && this.recent.size <= MAX_REMEMBERED) break;
      this.recent.delete(id);
    }
  }
}

/** Whether a job's signal was aborted by a cancel request (not by a shutdown). */
export function isCancelRequested(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true && signal.reason === CANCEL_REQUESTED;
}

/** The error that fails a cancelled job at once (no retry), with reason `cancelled`. */
export function cancelledFailure(): UnrecoverableError {
  return new UnrecoverableError(CANCELLED_REASON);
}
