import { afterEach, describe, expect, it } from 'vitest';

import { PermanentError } from '../../src/shared/errors.ts';
import { seededFakePorts } from '../support/fake-ports.ts';
import { testRedisEnv } from '../support/redis.ts';
import { runCli } from '../support/run-cli.ts';
import { type Harness, startHarness } from '../support/worker-harness.ts';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

describe('askq failed list / retry', () => {
  it('lists dead letters with their error class and retries them by id', async () => {
    const ports = await seededFakePorts();
    ports.failures.chat.push(() => new PermanentError('400 bad request from the model'));
    h = await startHarness({ ports });
    const { id } = await h.client.ask({ question: 'doomed question' });
    await expect(h.client.waitForAnswer(id, { timeoutMs: 10_000 })).rejects.toThrow(/400/);
    const env = { ...testRedisEnv(), ASKQ_PREFIX: h.config.ASKQ_PREFIX };

    const list = await runCli(['failed', 'list', '--json'], env);
    expect(list.code, list.stderr).toBe(0);
    expect(JSON.parse(list.stdout)).toEqual([
      expect.objectContaining({
        id,
        question: 'doomed question',
        errorClass: 'permanent',
        attempts: 1,
        reason: '400 bad request from the model',
      }),
    ]);

    const usage = await runCli(['failed', 'retry'], env);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/name the job ids to retry, or pass --all/);

    const retry = await runCli(['failed', 'retry', id, 'missing-id'], env);
    expect(retry.code).toBe(1); // one id was skipped
    expect(retry.stdout).toMatch(/retried 1 question/);
    expect(retry.stderr).toMatch(/skipped missing-id: no such job/);
    const answer = await h.client.waitForAnswer(id, { timeoutMs: 10_000 });
    expect(answer.attempts).toBe(1);
  });
});
