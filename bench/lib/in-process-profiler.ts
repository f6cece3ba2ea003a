import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { type ProfileSummary, summarizeCpuProfile } from './cpu-profile.ts';

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

  /**
   * The window's self time by function and by place; `saveTo` also keeps the raw
   * `.cpuprofile` (for Chrome DevTools or speedscope).
   */
  async summary(root: string, saveTo?: string): Promise<ProfileSummary> {
    if (!this.#profile) throw new Error('the profiler was not stopped');
    const json = JSON.stringify(this.#profile);
    if (saveTo) await writeFile(saveTo, json);
    const dir = await mkdtemp(join(tmpdir(), 'askq-bench-prof-'));
    try {
      const file = join(dir, 'window.cpuprofile');
      await writeFile(file, json);
      return await summarizeCpuProfile(file, root);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
}
