import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { Redis } from '../../src/shared/redis.ts';
import { deletePrefix, testConnection, testRedisEnv, uniquePrefix } from '../support/redis.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/**
 * Loaded before the CLI: reports every package a module is loaded from and every askq source
 * file, once each, on stderr (`module.registerHooks` sees each module as it loads, static
 * imports included).
 */
const REPORT_LOADS = `
  import { registerHooks } from 'node:module';
  const seen = new Set();
  registerHooks({
    load(url, context, next) {
      const name =
        /node_modules\\/((?:@[^/]+\\/)?[^/]+)\\//.exec(url)?.[1] ?? /\\/(src\\/.+)$/.exec(url)?.[1];
      if (name && !seen.has(name)) {
        seen.add(name);
        process.stderr.write('loaded ' + name + '\\n');
      }
      return next(url, context);
    },
  });
`;

/**
 * The packages and askq source files (`src/…`) `askq <args>` loads, from the source tree, with
 * only `env` (no .env): until it exits, or, given `ready`, until a line on stdout matches it,
 * when it is stopped (SIGTERM).
 */
async function loadedBy(
  args: string[],
  env: Record<string, string> = {},
  ready?: RegExp,
): Promise<Set<string>> {
  const child = spawn(
    process.execPath,
    ['--import', `data:text/javascript,${encodeURIComponent(REPORT_LOADS)}`, 'src/cli.ts', ...args],
    {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', NODE_DISABLE_COMPILE_CACHE: '1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout.on('data', (d: Buffer) => {
    const before = stdout;
    stdout += d.toString();
    if (ready?.test(stdout) && !ready.test(before)) child.kill('SIGTERM');
  });
  const [code] = (await once(child, 'close')) as [number | null];
  if (ready ? !ready.test(stdout) : code !== 0) {
    throw new Error(`askq ${args.join(' ')} exited ${code}: ${stderr.slice(-2000)}`);
  }
  return new Set([...stderr.matchAll(/^loaded (\S+)$/gm)].map((m) => m[1]!));
}

/**
 * Commands that only print (`--version`, `--help`, `config`) load the command line and the
 * config schema, not the queue: `--variant`'s parser once pulled the evaluation's modules,
 * and with them BullMQ, ioredis and the contracts' schemas, into every command (about 200 ms
 * of a 400 ms `askq --version`).
 */
describe('what a command loads', () => {
  it.each([['--version'], ['--help'], ['config']])(
    '`askq %s` loads commander and zod, not BullMQ or ioredis',
    async (command) => {
      const loaded = await loadedBy([command]);
      expect(loaded).toContain('commander');
      expect(loaded).toContain('zod');
      expect(loaded).not.toContain('bullmq');
      expect(loaded).not.toContain('ioredis');
    },
  );
});

const BATCH_LANE = 'src/worker/batch/batch-lane-worker.ts';

/**
 * A worker loads the batch lane (and the openai SDK it brings) only where chat goes to an
 * OpenAI-compatible server, the only place the lane runs.
 */
describe('what a worker loads', () => {
  let storeDir: string;
  let redis: Redis;
  const prefixes: string[] = [];
  beforeAll(async () => {
    storeDir = await mkdtemp(join(tmpdir(), 'askq-imports-'));
    redis = testConnection();
  });
  afterAll(async () => {
    for (const prefix of prefixes) await deletePrefix(redis, prefix);
    redis.disconnect();
    await rm(storeDir, { recursive: true, force: true });
  });
  const worker = (env: Record<string, string>) => {
    const prefix = uniquePrefix('imports');
    prefixes.push(prefix);
    return loadedBy(
      ['worker'],
      {
        ...testRedisEnv(),
        ASKQ_PREFIX: prefix,
        ASKQ_LOCAL_STORE_DIR: storeDir,
        LOG_LEVEL: 'info',
        ...env,
      },
      /"msg":"worker started"/,
    );
  };

  it('on the embedded default, neither the lane nor the openai SDK', async () => {
    const loaded = await worker({});
    expect(loaded).toContain('bullmq');
    expect(loaded).not.toContain(BATCH_LANE);
    expect(loaded).not.toContain('openai');
  });

  it('with chat on an OpenAI-compatible server, the lane', async () => {
    // Nothing is called at start: the key and server are never used.
    const loaded = await worker({
      ASKQ_LLM: 'openai',
      ASKQ_EMBEDDINGS: 'local',
      OPENAI_API_KEY: 'sk-test-imports',
      OPENAI_BASE_URL: 'http://127.0.0.1:9/v1',
    });
    expect(loaded).toContain(BATCH_LANE);
  });
});
