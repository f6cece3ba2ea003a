import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

import type { BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';

import type { CaseResult } from '../../src/producer/eval/case-result.ts';
import { writeReport } from '../../src/producer/eval/render-report.ts';
import type { RunManifest } from '../../src/producer/eval/run-store.ts';
import { summarize } from '../../src/producer/eval/summarize.ts';
import { launchChromium } from '../support/browser.ts';

const ARTIFACTS = join(process.cwd(), 'test-artifacts');
let browser: BrowserContext;
let tmp: string;

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'askq-report-'));
  // A fresh profile per run, so no state from another run leaks in.
  browser = await launchChromium(join(tmp, 'profile'));
});

afterAll(async () => {
  await browser?.close();
  await rm(tmp, { recursive: true, force: true });
});

function result(i: number, status: CaseResult['status']): CaseResult {
  return {
    id: `case-${i}`,
    where: `line ${i + 1}`,
    question: i === 3 ? '熔断器有哪三种状态？' : `How does feature ${i} work? <b>not bold</b>`,
    expected: `feature ${i}`,
    status,
    answer: status === 'error' ? '' : `Feature ${i} works like this.`,
    scores: status === 'error' ? {} : { contains: status === 'passed' ? 1 : 0, f1: 0.5 },
    failedAssertions: status === 'failed' ? ['contains'] : [],
    sources:
      i === 2
        ? [
            { id: 'manual.pdf', chunk: 3, score: 0.9, page: 2 },
            { id: 'help.html', chunk: 1, score: 0.7, section: 'Refunds' },
          ]
        : [{ id: `doc-${i}.md`, chunk: 0, score: 0.8 }],
    degraded: false,
    model: 'gpt-4o-mini',
    attempts: status === 'error' ? 5 : 1,
    timings: { queueMs: 5, retrieveMs: 20, generateMs: 100 + i * 10, totalMs: 130 + i * 10 },
    usage: { inputTokens: 100, outputTokens: 20 },
    ...(status === 'error' ? { error: 'chat: 500 after 5 attempts' } : {}),
    traceId: `${i}`.padStart(32, '0'),
    jobId: `ev-x-${i}`,
    finishedAt: 1_700_000_000_000 + i * 100,
  };
}

it('opens the self-contained report offline; the table renders, search and status filter work', async () => {
  const statuses: CaseResult['status'][] = [
    'passed',
    'passed',
    'failed',
    'passed',
    'error',
    'failed',
  ];
  const results = statuses.map((s, i) => result(i, s));
  const manifest = {
    runId: 'r-browser',
    file: '/data/questions.jsonl',
    enqueued: { valid: 6, invalid: 1, complete: true },
    settings: { withWorker: false, strict: false, priority: 100 },
  } as RunManifest;
  const summary = await summarize(manifest, results);
  const path = join(tmp, 'report.html');
  async function* stream() {
    yield* results;
  }
  await writeReport(path, summary, stream, { jaegerUrl: 'http://jaeger.local:16686' });

  const page = await browser.newPage();
  const external: string[] = [];
  page.on('request', (r) => {
    if (!r.url().startsWith('file:')) external.push(r.url());
  });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(pathToFileURL(path).href);

  const rows = page.locator('#cases tbody tr');
  await expect.poll(() => rows.count()).toBe(6);
  await expect.poll(() => page.locator('#count').textContent()).toBe('6 of 6 cases');
  // Text is text, not markup.
  expect(await page.locator('#cases b').count()).toBe(0);
  expect(await page.locator('.card').first().textContent()).toContain('50.0%');
  expect(await page.locator('svg[aria-label="latency histogram"] rect').count()).toBe(12);
  expect(
    await page
      // Failed and errored cases link to their traces.
      .locator('#cases a[href="http://jaeger.local:16686/trace/00000000000000000000000000000002"]')
      .count(),
  ).toBe(1);

  // Sources are cited with their page or section (on the cases that did not pass: a passed
  // row leaves its sources out to keep a large run's report small).
  const cited = await page.locator('#cases tbody tr', { hasText: 'case-2' }).textContent();
  expect(cited).toContain('manual.pdf p.2 #3');
  expect(cited).toContain('help.html § Refunds #1');

  await page.fill('#search', '熔断器');
  await expect.poll(() => rows.count()).toBe(1);
  expect(await rows.first().locator('td').first().textContent()).toBe('case-3');

  await page.fill('#search', '');
  await page.selectOption('#status', 'failed');
  await expect.poll(() => rows.count()).toBe(2);
  expect(await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-status')))).toEqual([
    'failed',
    'failed',
  ]);
  await page.selectOption('#status', 'error');
  await expect.poll(() => rows.count()).toBe(1);
  expect(await rows.first().textContent()).toContain('chat: 500 after 5 attempts');

  await page.selectOption('#status', '');
  await mkdir(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, 'eval-report.png'), fullPage: true });
  await page.close();
  expect(errors).toEqual([]);
  expect(external).toEqual([]);
});
