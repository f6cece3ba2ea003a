import { type BrowserContext, chromium } from 'playwright-core';

/** Debian's chromium (`.ci/run` installs it when missing). */
export const CHROMIUM = '/usr/bin/chromium';

/**
 * Headless Debian chromium with a fresh profile in `dir`. The flags keep it off the network
 * (this machine has none but 127.0.0.1; without them it retries Google's hosts at start).
 */
export function launchChromium(
  dir: string,
  options: { credentials?: { username: string; password: string }; viewport?: boolean } = {},
): Promise<BrowserContext> {
  return chromium.launchPersistentContext(dir, {
    executablePath: CHROMIUM,
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
