import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

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

/** The packages `askq <args>` loads, from the source tree, with no .env and no Redis asked. */
async function packagesLoadedBy(...args: string[]): Promise<Set<string>> {
  const { stderr } = await run(
    process.execPath,
    [
      '--import',
      `data:text/javascript,${encodeURIComponent(REPORT_PACKAGES)}`,
      'src/cli.ts',
      ...args,
    ],
    { cwd: ROOT, env: { PATH: process.env.PATH ?? '', NODE_DISABLE_COMPILE_CACHE: '1' } },
  );
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
      const loaded = await packagesLoadedBy(command);
      expect(loaded).toContain('commander');
      expect(loaded).toContain('zod');
      expect(loaded).not.toContain('bullmq');
      expect(loaded).not.toContain('ioredis');
    },
  );
});
