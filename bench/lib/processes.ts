import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

const FAKE_CHILD = fileURLToPath(new URL('./fake-openai-child.ts', import.meta.url));

export interface FakeCalls {
  chat: number;
  embeddings: number;
  models: number;
  rateLimited: number;
}

/** The fake OpenAI server in its own process; see fake-openai-child.ts. */
export interface FakeProcess {
  url: string;
  pid: number | undefined;
  /** Stops the process and returns its call counters. */
  stop(): Promise<FakeCalls>;
}

export async function startFakeProcess(
  options: { latencyMs?: number; rpm?: number } = {},
): Promise<FakeProcess> {
  const child = spawn(
    process.execPath,
    [FAKE_CHILD, '--latency', String(options.latencyMs ?? 0), '--rpm', String(options.rpm ?? 0)],
    // stdin is a pipe only so the child sees it close when this process dies (see the child).
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const url = await waitForLine(child, () => /FAKE_URL (\S+)/.exec(out)?.[1], 15_000);
  return {
    url,
    pid: child.pid,
    async stop() {
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
      const m = /FAKE_CALLS (\{.*\})/.exec(out);
      if (!m) throw new Error(`fake process printed no counters:\n${out}`);
      return JSON.parse(m[1]!) as FakeCalls;
    },
  };
}

/** Resolves with `read()`'s value once it is defined (checked on each output chunk). */
export function waitForLine<T>(
  child: ChildProcess,
  read: () => T | undefined,
  timeoutMs: number,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`child did not report in ${timeoutMs} ms`));
    }, timeoutMs);
    const check = () => {
      const v = read();
      if (v !== undefined) {
        cleanup();
        resolve(v);
      }
    };
    const onExit = (code: number | null) => {
      cleanup();
      reject(new Error(`child exited with ${code}`));
    };
    const cleanup = () => {
      clearTimeout(timer);
      child.stdout?.off('data', check);
      child.stderr?.off('data', check);
      child.off('exit', onExit);
    };
    child.stdout?.on('data', check);
    child.stderr?.on('data', check);
    child.on('exit', onExit);
    check();
  });
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the child has exited. */
export async function stopChild(child: ChildProcess, graceMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}
