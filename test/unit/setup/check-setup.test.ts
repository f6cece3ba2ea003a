import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';

import {
  CHROMIUM,
  chromiumCandidates,
  ensurePrerequisites,
  findChromium,
  type Host,
  REDIS_SERVER,
} from '../../../scripts/setup/prerequisites.ts';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const BIN = fileURLToPath(new URL('../../../node_modules/.bin', import.meta.url));

/** A machine whose files and installers are what the test says; installers are the only fake. */
function fakeHost(
  options: {
    files?: string[];
    platform?: NodeJS.Platform;
    isRoot?: boolean;
    env?: NodeJS.ProcessEnv;
    /** Files an installer run creates, by its first argument; absent: it fails. */
    installs?: Record<string, string[]>;
  } = {},
) {
  const files = new Set(options.files ?? []);
  const said: string[] = [];
  const ran: string[] = [];
  const host: Host = {
    platform: options.platform ?? 'linux',
    isRoot: options.isRoot ?? false,
    env: options.env ?? { PATH: '/usr/local/bin:/usr/bin' },
    isExecutable: (path) => files.has(path),
    run: async (command, args) => {
      ran.push([command, ...args].join(' '));
      const created = options.installs?.[args.at(-1) ?? ''];
      if (args[0] === 'update') return { code: 0, output: '' };
      if (!created) return { code: 100, output: 'E: Unable to locate package\n' };
      for (const f of created) files.add(f);
      return { code: 0, output: '' };
    },
    say: (line) => said.push(line),
  };
  return { host, said, ran };
}

describe('ensurePrerequisites', () => {
  it('says nothing and passes when everything is installed', async () => {
    const { host, said, ran } = fakeHost({
      files: ['/usr/bin/redis-server', '/usr/bin/chromium'],
    });
    expect(await ensurePrerequisites([REDIS_SERVER, CHROMIUM], host)).toBe(0);
    expect(said).toEqual([]);
    expect(ran).toEqual([]);
  });

  it('stops with one line naming what is missing and the command when it cannot install', async () => {
    const { host, said, ran } = fakeHost({ files: ['/usr/bin/redis-server', '/usr/bin/apt-get'] });
    expect(await ensurePrerequisites([REDIS_SERVER, CHROMIUM], host)).toBe(1);
    expect(ran).toEqual([]); // not root: apt-get is never tried
    expect(said).toHaveLength(1);
    expect(said[0]).toMatch(/Chromium is missing/);
    expect(said[0]).toContain('sudo apt-get install -y chromium');
    expect(said[0]).toContain('CHROMIUM_PATH');
  });

  it('installs with apt-get as root and says so in one line', async () => {
    const { host, said, ran } = fakeHost({
      isRoot: true,
      files: ['/usr/bin/apt-get', '/usr/bin/chromium'],
      installs: { 'redis-server': ['/usr/bin/redis-server'] },
    });
    expect(await ensurePrerequisites([REDIS_SERVER, CHROMIUM], host)).toBe(0);
    expect(ran).toEqual(['apt-get update -q', 'apt-get install -y -q redis-server']);
    expect(said).toEqual([
      expect.stringMatching(/redis-server is missing; installing it with apt-get/),
    ]);
  });

  it('says in one more line when the installer fails, with the command to run by hand', async () => {
    const { host, said } = fakeHost({ isRoot: true, files: ['/usr/bin/apt-get'] });
    expect(await ensurePrerequisites([CHROMIUM], host)).toBe(1);
    expect(said).toHaveLength(2);
    expect(said[1]).toMatch(
      /could not install Chromium with apt-get \(E: Unable to locate package\)/,
    );
    expect(said[1]).toContain('sudo apt-get install -y chromium');
  });

  it('uses brew on macOS where it is installed', async () => {
    const { host, ran } = fakeHost({
      platform: 'darwin',
      files: ['/usr/local/bin/brew'],
      installs: { chromium: ['/Applications/Chromium.app/Contents/MacOS/Chromium'] },
    });
    expect(await ensurePrerequisites([CHROMIUM], host)).toBe(0);
    expect(ran).toEqual(['brew install --cask chromium']);
  });

  it('names brew as the command on a Mac without it', async () => {
    const { host, said } = fakeHost({ platform: 'darwin' });
    expect(await ensurePrerequisites([REDIS_SERVER], host)).toBe(1);
    expect(said).toEqual([expect.stringContaining('install it with: brew install redis')]);
  });
});

describe('findChromium', () => {
  it('looks at CHROMIUM_PATH first, then where the common installs put it', () => {
    expect(chromiumCandidates('linux', { CHROMIUM_PATH: '/opt/chrome/chrome' })).toEqual([
      '/opt/chrome/chrome',
      '/usr/bin/chromium',
      '/usr/bin/chromium-browser',
      '/usr/bin/google-chrome',
    ]);
    const only = (path: string) => (p: string) => p === path;
    expect(findChromium('linux', {}, only('/usr/bin/chromium-browser'))).toBe(
      '/usr/bin/chromium-browser',
    );
    expect(findChromium('linux', {}, only('/usr/bin/google-chrome'))).toBe(
      '/usr/bin/google-chrome',
    );
    expect(findChromium('linux', {}, () => false)).toBeUndefined();
  });
});

describe('scripts/check-setup.ts (a real process)', () => {
  it('stops at once with one line when redis-server is missing and nothing can install it', async () => {
    // PATH holds only npm's .bin: no redis-server, no apt-get, no brew.
    const child = spawn(process.execPath, ['scripts/check-setup.ts', 'test'], {
      cwd: ROOT,
      env: { PATH: BIN, HOME: process.env.HOME ?? '/tmp' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(code).toBe(1);
    const lines = stderr.trim().split('\n');
    expect(lines.some((l) => /redis-server is missing/.test(l))).toBe(true);
    expect(stderr).toContain('install it with: sudo apt-get install -y redis-server');
    expect(stderr).not.toMatch(/at .*\.ts:\d+/); // no stack trace
  });
});
