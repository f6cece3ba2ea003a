import type { LocalRedis } from '../../src/shared/local-redis.ts';

const running = new Set<LocalRedis>();
let hooked = false;

/**
 * Kills `server` when the test process exits whatever the way (a failed hook, a crash), so no
 * redis-server outlives the run; `stopAll` is the normal path.
 */
export function killOnExit(server: LocalRedis): void {
  running.add(server);
  if (hooked) return;
  hooked = true;
  process.once('exit', () => {
    for (const s of running) s.process.kill('SIGKILL');
  });
}

/** Stops every server (those already killed by a test too) and removes their folders. */
export async function stopAll(servers: Iterable<LocalRedis>): Promise<void> {
  const list = [...servers];
  // Live ones first, all at once; then the killed ones, whose folders a restarted server on
  // the same port may have been using.
  const dead = list.filter((s) => s.process.exitCode !== null || s.process.signalCode !== null);
  await Promise.all(list.filter((s) => !dead.includes(s)).map((s) => s.stop()));
  for (const s of dead) await s.stop();
  for (const s of list) running.delete(s);
}

/** Polls `check` until it holds; rejects after `timeoutMs` naming what it waited for. */
export async function waitFor(
  check: () => Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
