import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { freePort } from '../../src/shared/local-redis.ts';
import { runCli } from '../support/run-cli.ts';

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
    expect(res.stdout).toMatch(/Q1 /);
    const summary =
      /(\d+) questions answered through the queue .*: (\d+)\/(\d+) contain the expected answer, (\d+)\/(\d+) retrieved the expected document/.exec(
        res.stdout,
      );
    expect(summary).not.toBeNull();
    const [, total, matched, expected, cited, withSources] = summary!.map(Number);
    expect(total).toBeGreaterThanOrEqual(10);
    // The embedded default must answer the shipped examples; one miss would be a regression.
    expect(matched).toBe(expected);
    expect(cited).toBe(withSources);
  }, 60_000);
});
