import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

import { describe, expect, it } from 'vitest';

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
