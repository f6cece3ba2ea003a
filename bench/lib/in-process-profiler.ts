import { writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';

/**
 * V8's sampling CPU profiler on this very process (the inspector protocol, as `node --cpu-prof`
 * uses), started and stopped around one measured window, so start-up, prefill and warm-up stay
 * out of it without a child process.
 */
export class InProcessProfiler {
  readonly #session: Session;
  #profile: object | undefined;

  private constructor(session: Session) {
    this.#session = session;
  }

  static async open(): Promise<InProcessProfiler> {
    const session = new Session();
    session.connect();
    await session.post('Profiler.enable');
    return new InProcessProfiler(session);
  }

  async start(): Promise<void> {
    await this.#session.post('Profiler.start');
  }

  async stop(): Promise<void> {
    this.#profile = (await this.#session.post('Profiler.stop')).profile;
    this.#session.disconnect();
  }

  /** Writes the raw `.cpuprofile` (for summarizeCpuProfile, Chrome DevTools or speedscope). */
  async save(path: string): Promise<void> {
    if (!this.#profile) throw new Error('the profiler was not stopped');
    await writeFile(path, JSON.stringify(this.#profile));
  }
}
