import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    setupFiles: ['test/support/setup-each-file.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // expect.poll gives up after 1 s by default: on a loaded CI machine a browser or worker
    // may take longer than that to get there. A condition that never holds still fails.
    expect: { poll: { timeout: 15_000 } },
    pool: 'forks',
  },
});
