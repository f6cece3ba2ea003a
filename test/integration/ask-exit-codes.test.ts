import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { type FakeOpenAI, startFakeOpenAI } from '../support/fake-openai-server.ts';
import { runCli } from '../support/run-cli.ts';
import { type Harness, startHarness } from '../support/worker-harness.ts';

/**
 * `askq ask --wait` tells a question that failed on its own (exit 1) from one that failed
 * because its provider stayed down (exit 3): a real CLI process against a worker whose chat
 * model is the fake over HTTP.
 */
describe('askq ask --wait exit codes', () => {
  let openai: FakeOpenAI;
  let h: Harness;

  beforeAll(async () => {
    openai = await startFakeOpenAI({
      decide: (route, request) => {
        if (route !== 'chat') return undefined;
        const body = JSON.stringify(request.body);
        if (body.includes('PERMANENT')) return { status: 401 };
        if (body.includes('OUTAGE')) return { status: 503 };
        return undefined;
      },
    });
    h = await startHarness({
      env: {
        OPENAI_API_KEY: 'sk-exit-codes-0001',
        OPENAI_BASE_URL: openai.url,
        ASKQ_LLM: 'openai',
        ASKQ_EMBEDDINGS: 'local',
        ASKQ_ATTEMPTS: '2',
        ASKQ_BACKOFF_MS: '10',
        ASKQ_BACKOFF_MAX_MS: '10',
      },
    });
  });

  afterAll(async () => {
    await h.close();
    await openai.close();
  });

  const ask = (question: string) =>
    runCli(['ask', question, '--wait', '--timeout', '60'], {
      REDIS_URL: h.config.REDIS_URL,
      ASKQ_PREFIX: h.config.ASKQ_PREFIX,
    });

  it('exits 0 with the answer when the question is answered', async () => {
    const res = await ask('What is LCEL?');
    expect(res.code).toBe(0);
  });

  it('exits 1 when the question failed for good (a permanent provider error)', async () => {
    const res = await ask('PERMANENT: what is LCEL?');
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/question \S+ failed/);
  });

  it('exits 3 when the provider stayed down through every attempt', async () => {
    const res = await ask('OUTAGE: what is LCEL?');
    expect(res.code).toBe(3);
    expect(res.stderr).toMatch(/question \S+ failed/);
  });
});
