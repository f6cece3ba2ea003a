import { afterAll, expect, it } from 'vitest';

import { BatchStore } from '../../src/shared/batch/batch-store.ts';
import { deletePrefix, testConnection, uniquePrefix } from '../support/redis.ts';

const prefix = uniquePrefix('batch-store');
const redis = testConnection();

afterAll(async () => {
  await deletePrefix(redis, prefix);
  await redis.quit();
});

it('seals chunks within the request and byte limits, once, and requeues retries to the open chunk', async () => {
  const store = new BatchStore(redis, prefix, 'run-1', 600);
  const line = (n: number) => JSON.stringify({ custom_id: `c${n}`, body: 'x'.repeat(80) });
  for (let n = 0; n < 7; n += 1) expect(await store.addLine(`c${n}`, line(n))).toBe(0);
  // A line added twice (a case woken before its batch ended) is queued once.
  await store.addLine('c0', line(0));
  expect(await store.pendingCount()).toBe(7);

  const limits = { maxRequests: 3, maxBytes: 1_000_000 };
  expect(await store.seal(0, limits)).toEqual({ queued: 4 });
  expect(await store.chunkIds(0)).toEqual(['c0', 'c1', 'c2']);
  // Sealing again (a submit job re-run after a crash) changes nothing.
  expect(await store.seal(0, limits)).toEqual({ queued: 4 });
  expect(await store.chunkIds(0)).toEqual(['c0', 'c1', 'c2']);

  // Two lines of ~100 bytes fit in 250 bytes; the third does not.
  expect(await store.seal(1, { maxRequests: 50, maxBytes: 250 })).toEqual({ queued: 2 });
  expect(await store.chunkIds(1)).toEqual(['c3', 'c4']);
  expect(await store.openChunk()).toBe(2);

  const record = { chunk: 0, requests: 3, batchId: 'batch_1', status: 'completed', updatedAt: 1 };
  const open = await store.settle(
    { ...record, collected: true },
    new Map([['c0', { kind: 'error', message: '401 bad key', batchId: 'batch_1' }]]),
    ['c1'],
  );
  expect(open).toBe(2);
  expect(await store.outcome('c0')).toEqual({
    kind: 'error',
    message: '401 bad key',
    batchId: 'batch_1',
  });
  expect(await store.lines(['c0', 'c1'])).toEqual([line(1)]);
  expect(await store.tries(['c0', 'c1'])).toEqual([0, 1]);
  expect(await store.pendingCount()).toBe(3);
  expect(await store.record(0)).toMatchObject({ collected: true, batchId: 'batch_1' });
});
