import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { AskqWorkerEvents } from '../../src/worker/worker-events.ts';
import { type FakeOpenAI, startFakeOpenAI } from '../support/fake-openai-server.ts';
import { type Harness, startHarness } from '../support/worker-harness.ts';

const JOBS = 8;

/**
 * Batched embeddings sit above the embeddings policy: a shared request that fails passes the
 * breaker once, however many jobs wait on it. Eight jobs share one failing request; with the
 * breaker's volume at 5, counting each waiting job would open it.
 */
describe('a failed batched embeddings request', () => {
  let openai: FakeOpenAI;
  let h: Harness;
  let dir: string;

  beforeAll(async () => {
    openai = await startFakeOpenAI({ apiKey: 'sk-batch-test-key' });
    dir = await mkdtemp(join(tmpdir(), 'askq-batched-breaker-'));
    h = await startHarness({
      env: {
        ASKQ_LLM: 'local',
        ASKQ_EMBEDDINGS: 'openai',
        ASKQ_VECTOR_STORE: 'local',
        ASKQ_LOCAL_STORE_DIR: dir,
        OPENAI_API_KEY: 'sk-batch-test-key',
        OPENAI_BASE_URL: openai.url,
        // Long enough for every job of the burst to join the first request.
        ASKQ_EMBED_BATCH_WAIT_MS: '300',
        ASKQ_BREAKER_VOLUME: '5',
        ASKQ_BREAKER_ERROR_PERCENT: '50',
      },
    });
  });

  afterAll(async () => {
    await h.close();
    await openai.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('counts once against the breaker, and every waiting job retries', async () => {
    const retries: AskqWorkerEvents['job:retry'][0][] = [];
    const breaker: AskqWorkerEvents['breaker:state'][0][] = [];
    h.worker.on('job:retry', (e) => retries.push(e));
    h.worker.on('breaker:state', (e) => breaker.push(e));
    openai.failNext('embeddings', { status: 500 });

    const { ids } = await h.client.askMany(
      Array.from({ length: JOBS }, (_, i) => ({ question: `question ${i} about queues` })),
    );
    const results = await Promise.all(ids.map((id) => h.client.waitForAnswer(id)));

    // All of them waited on the one failed request…
    expect(retries).toHaveLength(JOBS);
    expect(new Set(retries.map((r) => r.jobId))).toEqual(new Set(ids));
    expect(retries.every((r) => r.failure === 'transient')).toBe(true);
    // …which the breaker saw once: it never opened.
    expect(breaker).toEqual([]);
    expect(results.map((r) => r.attempts)).toEqual(Array.from({ length: JOBS }, () => 2));
  });
});
