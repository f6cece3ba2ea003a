import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** A program the README's commands need that npm cannot install. */
export interface Prerequisite {
  /** How the one-line messages name it. */
  name: string;
  /** Why it is needed, for the message when it is missing. */
  neededFor: string;
  /** Debian/Ubuntu packages that provide it. */
  apt: string[];
  /** Homebrew arguments that install it on macOS. */
  brew: string[];
  /** Where else it may come from, said when it cannot be installed. */
  orElse?: string;
  /** Whether it is there already. */
  present(host: Host): boolean | Promise<boolean>;
}

/** What the check needs from the machine; tests hand in their own. */
export interface Host {
  platform: NodeJS.Platform;
  /** Running as root, so apt-get may install. */
  isRoot: boolean;
  env: NodeJS.ProcessEnv;
  /** Whether a file exists and is executable. */
  isExecutable(path: string): boolean;
  /** Runs an installer; resolves with its exit code and the tail of its output. */
  run(command: string, args: string[]): Promise<{ code: number; output: string }>;
  say(line: string): void;
}

/** Where the common installs put Chromium (or Chrome), `CHROMIUM_PATH` first. */
export function chromiumCandidates(platform: NodeJS.Platform, env: NodeJS.ProcessEnv): string[] {
  const own = env.CHROMIUM_PATH?.trim();
  return [
    ...(own ? [own] : []),
    '/usr/bin/chromium',
    '/usr/bin/chromium-browser',
    '/usr/bin/google-chrome',
    ...(platform === 'darwin'
      ? [
          '/Applications/Chromium.app/Contents/MacOS/Chromium',
          '/Applications/Google Chrome.app/Contents/MacOS/Google Chrome',
        ]
      : []),
  ];
}

/** The Chromium the browser tests launch, or undefined when none is installed. */
export function findChromium(
  platform: NodeJS.Platform = process.platform,
  env: NodeJS.ProcessEnv = process.env,
  isExecutable: (path: string) => boolean = executable,
): string | undefined {
  return chromiumCandidates(platform, env).find(isExecutable);
}

/** Whether `command` is an executable in one of PATH's folders. */
export function onPath(
  command: string,
  env: NodeJS.ProcessEnv,
  isExecutable: (path: string) => boolean = executable,
): boolean {
  return (env.PATH ?? '')
    .split(delimiter)
    .filter((dir) => dir !== '')
    .some((dir) => isExecutable(join(dir, command)));
}

/** Whether a file exists and may be executed. */
export function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export const REDIS_SERVER: Prerequisite = {
  name: 'redis-server',
  neededFor: 'the tests and the demo start private Redis servers',
  apt: ['redis-server'],
  brew: ['redis'],
  present: (host) => onPath('redis-server', host.env, host.isExecutable),
};

export const CHROMIUM: Prerequisite = {
  name: 'Chromium',
  neededFor: 'the browser tests and the eval-100k benchmark drive it',
  apt: ['chromium'],
  brew: ['--cask', 'chromium'],
  orElse: 'or set CHROMIUM_PATH to a Chromium or Chrome executable',
  present: (host) => findChromium(host.platform, host.env, host.isExecutable) !== undefined,
};

/** The command a person runs to install `p` on this platform. */
export function installCommand(p: Prerequisite, platform: NodeJS.Platform): string {
  return platform === 'darwin'
    ? `brew install ${p.brew.join(' ')}`
    : `sudo apt-get install -y ${p.apt.join(' ')}`;
}

/**
 * Makes sure every prerequisite is there: installs a missing one with apt-get (as root on
 * Linux) or brew (macOS), saying so in one line; where it cannot, says in one line what is
 * missing and the command that installs it. Resolves with the exit code (0: all there).
 */
export async function ensurePrerequisites(needed: Prerequisite[], host: Host): Promise<number> {
  const missing: Prerequisite[] = [];
  for (const p of needed) if (!(await p.present(host))) missing.push(p);
  if (missing.length === 0) return 0;

  const installer = pickInstaller(host);
  let failed = 0;
  let aptUpdated = false;
  for (const p of missing) {
    const manual = `${installCommand(p, host.platform)}${p.orElse ? `, ${p.orElse}` : ''}`;
    if (!installer) {
      host.say(`askq setup: ${p.name} is missing (${p.neededFor}); install it with: ${manual}`);
      failed++;
      continue;
    }
    host.say(`askq setup: ${p.name} is missing; installing it with ${installer} (${p.neededFor})`);
    let result = { code: 0, output: '' };
    if (installer === 'apt-get') {
      if (!aptUpdated) result = await host.run('apt-get', ['update', '-q']);
      aptUpdated = true;
      if (result.code === 0) result = await host.run('apt-get', ['install', '-y', '-q', ...p.apt]);
    } else {
      result = await host.run('brew', ['install', ...p.brew]);
    }
    if (result.code !== 0 || !(await p.present(host))) {
      const why = lastLine(result.output);
      host.say(
        `askq setup: could not install ${p.name} with ${installer}${why ? ` (${why})` : ''}; install it with: ${manual}`,
      );
      failed++;
    }
  }
  return failed === 0 ? 0 : 1;
}

function pickInstaller(host: Host): 'apt-get' | 'brew' | undefined {
  if (host.platform === 'darwin')
    return onPath('brew', host.env, host.isExecutable) ? 'brew' : undefined;
  if (host.platform === 'linux' && host.isRoot && onPath('apt-get', host.env, host.isExecutable))
    return 'apt-get';
  return undefined;
}

function lastLine(output: string): string {
  return (
    output
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '')
      .at(-1) ?? ''
  );
}
