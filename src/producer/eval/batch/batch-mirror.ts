import type { BatchRecord } from '../../../shared/batch/batch-lane.ts';
import type { BatchStore } from '../../../shared/batch/batch-store.ts';
import { SECOND } from '../../../shared/time.ts';

export interface BatchMirrorOptions {
  store: BatchStore;
  /** Called with every batch of the run whenever one changed. */
  onChange: (records: BatchRecord[]) => void | Promise<void>;
  /** @defaultValue 2000 */
  intervalMs?: number;
}

/**
 * Follows a run's batches in Redis (where the workers keep them) for the producer: run.json
 * and the progress line get each batch's id, status and counts as they change. Redis stays
 * the truth; a mirror that misses a read catches up on the next.
 */
export class BatchMirror {
  private readonly opts: Required<BatchMirrorOptions>;
  private timer: NodeJS.Timeout | undefined;
  private last = '';
  private running: Promise<void> = Promise.resolve();

  constructor(options: BatchMirrorOptions) {
    this.opts = { intervalMs: 2 * SECOND, ...options };
  }

  start(): void {
    void this.refresh();
    this.timer = setInterval(() => void this.refresh(), this.opts.intervalMs);
  }

  /** Reads the batches now; calls `onChange` if they changed. */
  refresh(): Promise<void> {
    this.running = this.running.then(async () => {
      try {
        const records = await this.opts.store.records();
        const text = JSON.stringify(records);
        if (text === this.last) return;
        this.last = text;
        await this.opts.onChange(records);
      } catch {
        // Redis away for a moment: the next tick tries again.
      }
    });
    return this.running;
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.refresh();
  }
}
