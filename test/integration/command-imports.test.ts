import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { testRedisEnv, uniquePrefix } from '../support/redis.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/**
 * Loaded before the CLI: reports every package a module is loaded from, once, on stderr
 * (`module.registerHooks` sees each module as it loads, static imports included).
 */
const REPORT_PACKAGES = `
  import { registerHooks } from 'node:module';
  const seen = new Set();
  registerHooks({
    load(url, context, next) {
      const name = /node_modules\\/((?:@[^/]+\\/)?[^/]+)\\//.exec(url)?.[1];
      if (name && !seen.has(name)) {
        seen.add(name);
        process.stderr.write('package ' + name + '\\n');
      }
      return next(url, context);
    },
  });
`;

/**
 * The packages `askq <args>` loads, from the source tree, with only `env` (no .env): until it
 * exits, or, given `ready`, until a line on stdout matches it, when it is stopped (SIGTERM).
 */
async function packagesLoadedBy(
  args: string[],
  env: Record<string, string> = {},
  ready?: RegExp,
): Promise<Set<string>> {
  const child = spawn(
    process.execPath,
    [
      '--import',
      `data:text/javascript,${encodeURIComponent(REPORT_PACKAGES)}`,
      'src/cli.ts',
      ...args,
    ],
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
    stdout += d.toString();
    if (ready?.test(stdout)) child.kill('SIGTERM');
  });
  const [code] = (await once(child, 'close')) as [number | null];
  if (ready ? !ready.test(stdout) : code !== 0) {
    throw new Error(`askq ${args.join(' ')} exited ${code}: ${stderr.slice(-2000)}`);
  }
  return new Set([...stderr.matchAll(/^package (\S+)$/gm)].map((m) => m[1]!));
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
      const loaded = await packagesLoadedBy([command]);
      expect(loaded).toContain('commander');
      expect(loaded).toContain('zod');
      expect(loaded).not.toContain('bullmq');
      expect(loaded).not.toContain('ioredis');
    },
  );
});

/**
 * A worker loads the batch lane (and the openai SDK it brings) only where chat goes to an
 * OpenAI-compatible server, the only place the lane runs.
 */
describe('what a worker loads', () => {
  let storeDir: string;
  beforeAll(async () => {
    storeDir = await mkdtemp(join(tmpdir(), 'askq-imports-'));
  });
  afterAll(async () => {
    await rm(storeDir, { recursive: true, force: true });
  });
  const worker = (env: Record<string, string>) =>
    packagesLoadedBy(
      ['worker'],
      {
        ...testRedisEnv(),
        ASKQ_PREFIX: uniquePrefix('imports'),
        ASKQ_LOCAL_STORE_DIR: storeDir,
        LOG_LEVEL: 'info',
        ...env,
      },
      /"msg":"worker started"/,
    );

  it('on the embedded default, not the openai SDK', async () => {
    const loaded = await worker({});
    expect(loaded).toContain('bullmq');
    expect(loaded).not.toContain('openai');
  });

  it('with chat on an OpenAI-compatible server, the openai SDK', async () => {
    // Nothing is called at start: the key and server are never used.
    const loaded = await worker({
      ASKQ_LLM: 'openai',
      ASKQ_EMBEDDINGS: 'local',
      OPENAI_API_KEY: 'sk-test-imports',
      OPENAI_BASE_URL: 'http://127.0.0.1:9/v1',
    });
    expect(loaded).toContain('openai');
  });
});
