import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { Job } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { AskqHttpClient, QuestionFailedError } from '../../../src/index.ts';
import { keyFingerprint } from '../../../src/producer/http/credentials.ts';
import { pendingKey } from '../../../src/shared/tenancy/pending-count.ts';
import {
  OTHER_API_KEY,
  startTestApi,
  TEST_API_KEY,
  type TestApi,
} from '../../support/api-server.ts';
import { type FakeOpenAI, startFakeOpenAI } from '../../support/fake-openai-server.ts';
import { type Harness, startHarness } from '../../support/worker-harness.ts';

/**
 * An API and one worker (concurrency 10) whose chat model is the OpenAI fake over HTTP:
 * cancelling an active question aborts the real client's request; a key's backlog does not
 * starve another key.
 */
describe('API questions on a worker: cancellation and fair share', () => {
  let openai: FakeOpenAI;
  let h: Harness;
  let api: TestApi;
  let a: AskqHttpClient;
  let b: AskqHttpClient;
  let store: string;

  beforeAll(async () => {
    openai = await startFakeOpenAI({ apiKey: 'sk-tenancy-0001' });
    store = await mkdtemp(join(tmpdir(), 'askq-tenancy-'));
    h = await startHarness({
      env: {
        OPENAI_API_KEY: 'sk-tenancy-0001',
        OPENAI_BASE_URL: openai.url,
        ASKQ_LLM: 'openai',
        ASKQ_EMBEDDINGS: 'local',
        ASKQ_VECTOR_STORE: 'local',
        ASKQ_LOCAL_STORE_DIR: store,
        ASKQ_CONCURRENCY: '10',
      },
    });
    api = await startTestApi({ ASKQ_PREFIX: h.config.ASKQ_PREFIX });
    await api.listen();
    a = new AskqHttpClient({ baseUrl: api.url, apiKey: TEST_API_KEY });
    b = new AskqHttpClient({ baseUrl: api.url, apiKey: OTHER_API_KEY });
  });
  afterAll(async () => {
    await api.close();
    await h.close();
    await openai.close();
    await rm(store, { recursive: true, force: true });
  });

  it('cancels an active question: the provider call is aborted, no retry, failed "cancelled"', async () => {
    openai.failNext('chat', { hang: true });
    const arrived = openai.nextRequest('chat');
    const { id } = await a.ask({ question: 'Will this ever be answered?' });
    await arrived;
    const abortsBefore = openai.clientAborts;
    const aborted = openai.nextClientAbort();

    // Another key cannot cancel it; its owner can.
    expect(await b.cancel(id)).toBeUndefined();
    expect(await a.cancel(id)).toEqual({ id, state: 'active', outcome: 'aborting' });
    await aborted;
    expect(openai.clientAborts).toBe(abortsBefore + 1);

    await expect(a.waitForAnswer(id, { timeoutMs: 10_000 })).rejects.toThrow(
      new QuestionFailedError(id, 'cancelled'),
    );
    expect(await a.getStatus(id)).toMatchObject({
      state: 'failed',
      error: 'cancelled',
      attempts: 1,
    });
    expect(openai.calls.chat).toBe(1);
    // Its place in the owner's pending quota is given back.
    const owner = keyFingerprint(TEST_API_KEY);
    expect(await api.redis.get(pendingKey(h.config.ASKQ_PREFIX, owner))).toBeNull();
    // Cancelling it again: it has finished.
    expect(await a.cancel(id)).toEqual({ id, state: 'failed', outcome: 'finished' });
  });

  it("answers key B's one question before key A's backlog of 2,000 is 10% done", async () => {
    openai.latencyMs = 200;
    const finishedOfA: string[] = [];
    let aDoneWhenB: number | undefined;
    let bId = '';
    const idsOfA = new Set<string>();
    const bAnswered = new Promise<void>((resolve) => {
      h.worker.questions.on('completed', (job: Job) => {
        if (idsOfA.has(job.id!)) finishedOfA.push(job.id!);
        if (job.id === bId) {
          aDoneWhenB = finishedOfA.length;
          resolve();
        }
      });
    });
    const questions = Array.from({ length: 1000 }, (_, i) => ({ question: `backlog ${i}` }));
    for (const id of (await a.askMany(questions)).ids) idsOfA.add(id);
    for (const id of (await a.askMany(questions)).ids) idsOfA.add(id);
    bId = (await b.ask({ question: 'just one' })).id;
    await bAnswered;
    console.log(`fair share: ${aDoneWhenB} of A's 2000 answered before B's one`);
    expect(aDoneWhenB).toBeLessThan(200);
    // The rest of the backlog is of no interest.
    await h.worker.questions.pause(true);
    await h.queue.obliterate({ force: true });
  }, 60_000);
});
