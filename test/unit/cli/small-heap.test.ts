import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { type HeapTuning, heapTuningFor } from '../../../src/cli/small-heap.ts';

const run = promisify(execFile);
const moduleUrl = new URL('../../../src/cli/small-heap.ts', import.meta.url).href;

/**
 * boundWorkerHeap relies on V8 reading two flags at run time; each case runs in a process of
 * its own (the flags are process-wide) and churns through short-lived objects while keeping
 * some alive, as a worker with jobs in flight does.
 */
async function youngGenerationMb(bound: boolean): Promise<number> {
  const script = `
    const [url, bound] = process.argv.slice(1);
    const { boundWorkerHeap } = await import(url);
    const { getHeapSpaceStatistics } = await import('node:v8');
    const { setImmediate: tick } = await import('node:timers/promises');
    if (bound === 'true') boundWorkerHeap();
    let inFlight = [];
    for (let batch = 0; batch < 300; batch++) {
      for (let i = 0; i < 10_000; i++) {
        inFlight.push({ id: i, text: 'job ' + i, parts: [i, i + 1] });
        if (inFlight.length > 30_000) inFlight = [];
      }
      await tick();
    }
    const young = getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
    console.log(young.space_size / 1048576);
  `;
  const { stdout } = await run(process.execPath, [
    '--input-type=module',
    '-e',
    script,
    moduleUrl,
    String(bound),
  ]);
  return Number(stdout.trim());
}

describe('boundWorkerHeap', () => {
  it('stops the young generation growing at its bound, which V8 would otherwise exceed', async () => {
    const [unbounded, bounded] = await Promise.all([
      youngGenerationMb(false),
      youngGenerationMb(true),
    ]);
    expect(unbounded).toBeGreaterThan(32);
    expect(bounded).toBeLessThanOrEqual(32);
  });
});

describe('heapTuningFor', () => {
  const argv = (...args: string[]) => ['node', 'askq', ...args];
  it('bounds the heap of a command hosting a worker, shrinks that of one following a run', () => {
    expect(heapTuningFor(argv('eval', 'run', 'q.jsonl', '--with-worker'))).toBe('worker');
    expect(heapTuningFor(argv('eval', 'status', 'r1', '--follow', '--with-worker'))).toBe('worker');
    expect(heapTuningFor(argv('eval', 'run', 'q.jsonl'))).toBe('small');
    expect(heapTuningFor(argv('eval', 'status', 'r1', '--follow'))).toBe('small');
    expect(heapTuningFor(argv('eval', 'report', 'r1'))).toBe('small');
    expect(heapTuningFor(argv('eval', 'compare', 'a', 'b'))).toBe('default');
    expect(heapTuningFor(argv('worker'))).toBe('default');
    expect(heapTuningFor(argv('ask', 'why?'))).toBe('default');
  });
});

/**
 * Why the tuning's flags are set before the compile cache is enabled: V8 stamps cached code
 * with a hash of its flags, and Node picks the cache's folder by the flags at the moment it is
 * enabled. Processes tuned differently take turns loading one module: in that order each one's
 * code is accepted by the next process of its kind; in the order askq had (cache first, flags
 * after), each rejects what the other kind wrote.
 */
describe('compile cache and heap tuning', () => {
  const script = `
    const [url, tuning, order] = process.argv.slice(1);
    const { applyHeapTuning } = await import(url);
    const { enableCompileCache } = await import('node:module');
    if (order === 'flags-first') applyHeapTuning(tuning);
    enableCompileCache(process.env.CACHE);
    if (order === 'cache-first') applyHeapTuning(tuning);
    await import('commander');
  `;
  let cache: string;
  beforeEach(async () => {
    cache = await mkdtemp(join(tmpdir(), 'askq-compile-cache-'));
  });
  afterEach(async () => {
    await rm(cache, { recursive: true, force: true });
  });

  async function load(tuning: HeapTuning, order: 'flags-first' | 'cache-first') {
    const { stderr } = await run(
      process.execPath,
      ['--input-type=module', '-e', script, moduleUrl, tuning, order],
      {
        cwd: fileURLToPath(new URL('../../../', import.meta.url)),
        env: { ...process.env, CACHE: cache, NODE_DEBUG_NATIVE: 'COMPILE_CACHE' },
      },
    );
    return {
      accepted: stderr.match(/was accepted/g)?.length ?? 0,
      rejected: stderr.match(/was rejected/g)?.length ?? 0,
    };
  }

  it('serves each tuning its own code when the flags are set first', async () => {
    for (const tuning of ['default', 'worker', 'small'] as const) await load(tuning, 'flags-first');
    for (const tuning of ['default', 'worker', 'small'] as const) {
      const again = await load(tuning, 'flags-first');
      expect(again).toMatchObject({ rejected: 0 });
      expect(again.accepted).toBeGreaterThan(0);
    }
  });

  it("rejects the other tuning's code when the flags are set after the cache", async () => {
    await load('default', 'cache-first');
    await load('worker', 'cache-first');
    expect((await load('default', 'cache-first')).rejected).toBeGreaterThan(0);
  });
});
