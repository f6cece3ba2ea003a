import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import type { BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { PermanentError } from '../../src/shared/errors.ts';
import { startTestApi, type TestApi } from '../support/api-server.ts';
import { launchChromium } from '../support/browser.ts';
import { FakePorts } from '../support/fake-ports.ts';
import { type Harness, startHarness } from '../support/worker-harness.ts';

const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));
const USER = 'operator';
const PASSWORD = 'browser-board-password';
const QUESTION = 'Which queue answers questions?';
const FAILING_QUESTION = 'Will this one fail the first time?';

/** Headless Debian chromium with a fresh profile; nothing reaches the network but 127.0.0.1. */
function launch(dir: string, credentials?: { username: string; password: string }) {
  return launchChromium(dir, { viewport: true, ...(credentials ? { credentials } : {}) });
}

describe('Bull Board in a real browser (headless chromium)', () => {
  let h: Harness;
  let api: TestApi;
  let profiles: string;
  const contexts: BrowserContext[] = [];
  let jobId: string;
  let failedId: string;
  const ports = new FakePorts();

  beforeAll(async () => {
    h = await startHarness({ ports });
    api = await startTestApi({
      ASKQ_PREFIX: h.config.ASKQ_PREFIX,
      ASKQ_BOARD_USER: USER,
      ASKQ_BOARD_PASSWORD: PASSWORD,
    });
    await api.listen();
    // One question answered by a real worker, so the board has a completed job to show.
    jobId = (await h.client.ask({ question: QUESTION })).id;
    await h.client.waitForAnswer(jobId, { timeoutMs: 10_000 });
    // And one that failed (a permanent chat error), for the board to retry.
    ports.failures.chat.push(() => new PermanentError('the model refused the request'));
    failedId = (await h.client.ask({ question: FAILING_QUESTION })).id;
    await expect(h.client.waitForAnswer(failedId, { timeoutMs: 10_000 })).rejects.toThrow(
      /refused/,
    );
    profiles = await mkdtemp(join(tmpdir(), 'askq-chromium-'));
    await mkdir(ARTIFACTS, { recursive: true });
  });
  afterAll(async () => {
    await Promise.all(contexts.map((c) => c.close()));
    await api?.close();
    await h?.close();
    if (profiles) await rm(profiles, { recursive: true, force: true });
  });

  it('is closed to a browser without credentials or with a wrong password', async () => {
    // A board of its own: the wrong password's failed logins count against this address, and
    // must not reach the failed-login limit of the board the operator logs in to below.
    const closed = await startTestApi({ ASKQ_BOARD_USER: USER, ASKQ_BOARD_PASSWORD: PASSWORD });
    await closed.listen();
    try {
      await expectClosed(closed.url);
    } finally {
      await closed.close();
    }
  });

  async function expectClosed(url: string): Promise<void> {
    for (const [name, credentials] of [
      ['anonymous', undefined],
      ['wrong', { username: USER, password: 'not-the-password' }],
    ] as const) {
      const context = await launch(join(profiles, name), credentials);
      // Closed before its server is: an open browser connection would hold the close.
      const outcome = await context
        .newPage()
        .then((page) => page.goto(`${url}/admin/queues`))
        .then(
          (response) => `status ${response?.status()}`,
          // Chromium answers a Basic challenge it cannot meet with a navigation error.
          (err: Error) => err.message,
        )
        .finally(() => context.close());
      expect(outcome).toMatch(/status 401|ERR_INVALID_AUTH_CREDENTIALS/);
    }
  }

  it('logs in with Basic auth and shows the questions queue with its completed job', async () => {
    const context = await launch(join(profiles, 'operator'), {
      username: USER,
      password: PASSWORD,
    });
    contexts.push(context);
    const page = await context.newPage();
    const response = await page.goto(`${api.url}/admin/queues`);
    expect(response?.status()).toBe(200);
    // The overview lists both askq queues (rendered client-side: waited for, as long as a
    // loaded machine needs).
    for (const queue of ['questions', 'ingest']) {
      await page.getByText(queue, { exact: true }).first().waitFor({ timeout: 15_000 });
    }

    await page.goto(`${api.url}/admin/queues/queue/questions?status=completed`);
    await page.getByText(`#${jobId}`).first().waitFor({ timeout: 15_000 });
    await page.getByText(QUESTION).first().waitFor({ timeout: 15_000 });

    const shot = join(ARTIFACTS, 'bull-board-questions-completed.png');
    await page.screenshot({ path: shot, fullPage: true });
    expect((await stat(shot)).size).toBeGreaterThan(10_000);
  });

  it('retries a failed job from the board (a same-origin change), and the worker answers it', async () => {
    const context = await launch(join(profiles, 'operator-retry'), {
      username: USER,
      password: PASSWORD,
    });
    contexts.push(context);
    const page = await context.newPage();
    await page.goto(`${api.url}/admin/queues/queue/questions?status=failed`);
    await page.getByText(`#${failedId}`).first().waitFor({ timeout: 15_000 });
    const retried = page.waitForResponse(
      (r) => r.request().method() === 'PUT' && r.url().includes(`/${failedId}/retry`),
    );
    // The job card's actions are icon buttons named by a tooltip: hover to find Retry.
    const retry = page.locator('li [data-base-ui-tooltip-trigger] button').first();
    await retry.hover();
    await page.getByText('Retry', { exact: true }).waitFor({ timeout: 5_000 });
    await retry.click();
    await page.getByRole('button', { name: 'Confirm', exact: true }).click();
    expect((await retried).status()).toBeLessThan(300);
    const answer = await h.client.waitForAnswer(failedId, { timeoutMs: 10_000 });
    expect(answer.answer).toBeTruthy();
  });
});
