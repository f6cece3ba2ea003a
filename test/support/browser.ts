import { type BrowserContext, chromium } from 'playwright-core';

import { CHROMIUM, findChromium, installCommand } from '../../scripts/setup/prerequisites.ts';

/** The installed Chromium (`CHROMIUM_PATH`, else the common places); `npm test` installs one first. */
function chromiumPath(): string {
  const path = findChromium();
  if (path === undefined)
    throw new Error(
      `Chromium not found; install it with: ${installCommand(CHROMIUM, process.platform)}, or set CHROMIUM_PATH`,
    );
  return path;
}

/**
 * Headless Chromium with a fresh profile in `dir`. The flags keep it off the network
 * (this machine has none but 127.0.0.1; without them it retries Google's hosts at start).
 */
export function launchChromium(
  dir: string,
  options: { credentials?: { username: string; password: string }; viewport?: boolean } = {},
): Promise<BrowserContext> {
  return chromium.launchPersistentContext(dir, {
    executablePath: chromiumPath(),
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    ...(options.viewport ? { viewport: { width: 1280, height: 900 } } : {}),
    ...(options.credentials ? { httpCredentials: options.credentials } : {}),
  });
}
