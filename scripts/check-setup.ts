/**
 * Run by npm before `npm test` (pretest), `npm run bench` (prebench) and `npm run demo`
 * (predemo): installs what the command needs and npm cannot (redis-server, Chromium) when it
 * may, or stops at once with one line naming what is missing and the command that installs it.
 *
 *   node scripts/check-setup.ts test   redis-server and Chromium
 *   node scripts/check-setup.ts bench  redis-server (private servers) and Chromium (eval-100k
 *                                      opens its report)
 *   node scripts/check-setup.ts demo   a Redis answering at REDIS_URL, or redis-server
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import { redisAnswers } from '../src/shared/redis.ts';
import {
  CHROMIUM,
  ensurePrerequisites,
  executable,
  type Host,
  type Prerequisite,
  REDIS_SERVER,
} from './setup/prerequisites.ts';

/** The demo needs no redis-server of its own when a Redis already answers at REDIS_URL. */
function redisForDemo(url: string): Prerequisite {
  return {
    ...REDIS_SERVER,
    neededFor: `no Redis answers at REDIS_URL, so the demo starts its own`,
    present: async (host) => (await redisAnswers(url)) || REDIS_SERVER.present(host),
  };
}

/** Runs an installer with its output captured, so a success prints only askq's one line. */
function run(command: string, args: string[]): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, {
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const keep = (d: Buffer) => (output = (output + d.toString()).slice(-4000));
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.on('error', (err) => resolve({ code: 127, output: err.message }));
    child.on('close', (code) => resolve({ code: code ?? 1, output }));
  });
}

const host: Host = {
  platform: process.platform,
  isRoot: process.getuid?.() === 0,
  env: process.env,
  isExecutable: executable,
  run,
  say: (line) => process.stderr.write(`${line}\n`),
};

async function main(argv: string[]): Promise<number> {
  const what = argv[0];
  if (what === 'test' || what === 'bench') {
    return ensurePrerequisites([REDIS_SERVER, CHROMIUM], host);
  }
  if (what === 'demo') {
    const url = process.env.REDIS_URL?.trim() || 'redis://127.0.0.1:6379';
    return ensurePrerequisites([redisForDemo(url)], host);
  }
  host.say('usage: node scripts/check-setup.ts test|bench|demo');
  return 2;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  process.exitCode = await main(process.argv.slice(2));
}
