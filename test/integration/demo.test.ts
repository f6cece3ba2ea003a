import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { freePort } from '../../src/shared/local-redis.ts';
import { runCli } from '../support/run-cli.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

describe('askq demo', () => {
  let store: string;
  beforeAll(async () => {
    store = await mkdtemp(join(tmpdir(), 'askq-demo-store-'));
  });
  afterAll(async () => {
    await rm(store, { recursive: true, force: true });
  });

  it('starts a private Redis when none answers and answers every example question', async () => {
    const deadPort = await freePort();
    const res = await runCli(['demo'], {
      REDIS_URL: `redis://127.0.0.1:${deadPort}`,
      ASKQ_LOCAL_STORE_DIR: store,
    });
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toMatch(/started a private redis-server/);
    expect(res.stdout).toMatch(/Providers: chat local:extractive-v1, embeddings local:hashing-v1/);
    expect(res.stdout).toMatch(/Q1 .*\[passed\]/);
    const summary = /run (\S+): (\d+) passed, (\d+) failed, (\d+) errors of (\d+) cases/.exec(
      res.stdout,
    );
    expect(summary, res.stdout).not.toBeNull();
    const [passed, failed, errors, cases] = summary!.slice(2).map(Number);
    expect(cases).toBeGreaterThanOrEqual(10);
    // The embedded default must answer every shipped example; one miss is a regression.
    expect({ passed, failed, errors }).toEqual({ passed: cases, failed: 0, errors: 0 });
    const report = /report: (\S+report\.html)/.exec(res.stdout)?.[1];
    expect(report && existsSync(resolve(ROOT, report))).toBe(true);
  }, 60_000);
});
