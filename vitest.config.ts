import { defineConfig } from 'vitest/config';

/**
 * Integration tests that run a second time against a local Redis Cluster (the `cluster`
 * project): asking, eval flows, the answer cache, rate-limit pauses, TPM, dead letters and
 * the HTTP API. Their support code (test/support/redis.ts) adapts to the project's mode.
 */
const CLUSTER_MATRIX = [
  'test/integration/worker.test.ts',
  'test/integration/cache-and-limits.test.ts',
  'test/integration/resilience.test.ts',
  'test/integration/dead-letters-cli.test.ts',
  'test/integration/eval/*.test.ts',
  'test/integration/http/api-questions.test.ts',
  'test/integration/http/api-ops.test.ts',
];

export default defineConfig({
  test: {
    setupFiles: ['test/support/setup-each-file.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // expect.poll gives up after 1 s by default: on a loaded CI machine a browser or worker
    // may take longer than that to get there. A condition that never holds still fails.
    expect: { poll: { timeout: 15_000 } },
    pool: 'forks',
    projects: [
      // Each project runs the global setup for itself: one Redis (or cluster) per project.
      {
        extends: true,
        test: {
          name: 'standalone',
          include: ['test/**/*.test.ts'],
          globalSetup: ['test/support/global-setup.ts'],
        },
      },
      {
        extends: true,
        test: {
          name: 'cluster',
          include: CLUSTER_MATRIX,
          globalSetup: ['test/support/global-setup.ts'],
        },
      },
    ],
  },
});
