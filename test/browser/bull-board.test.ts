import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import type { BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startTestApi, type TestApi } from '../support/api-server.ts';
import { launchChromium } from '../support/browser.ts';
import { FakePorts } from '../support/fake-ports.ts';
import { type Harness, startHarness } from '../support/worker-harness.ts';

const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));
const USER = 'operator';
const PASSWORD = 'browser-board-password';
const QUESTION = 'Which queue answers questions?';

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

  beforeAll(async () => {
    h = await startHarness({ ports: new FakePorts() });
    api = await startTestApi({
      ASKQ_PREFIX: h.config.ASKQ_PREFIX,
      ASKQ_BOARD_USER: USER,
      ASKQ_BOARD_PASSWORD: PASSWORD,
    });
    await api.listen();
    // One question answered by a real worker, so the board has a completed job to show.
    jobId = (await h.client.ask({ question: QUESTION })).id;
    await h.client.waitForAnswer(jobId, { timeoutMs: 10_000 });
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
    for (const [name, credentials] of [
      ['anonymous', undefined],
      ['wrong', { username: USER, password: 'not-the-password' }],
    ] as const) {
      const context = await launch(join(profiles, name), credentials);
      contexts.push(context);
      const page = await context.newPage();
      // Chromium answers a Basic challenge it cannot meet with a navigation error, not a page.
      const outcome = await page.goto(`${api.url}/admin/queues`).then(
        (response) => `status ${response?.status()}`,
        (err: Error) => err.message,
      );
      expect(outcome).toMatch(/status 401|ERR_INVALID_AUTH_CREDENTIALS/);
    }
  });

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
});
