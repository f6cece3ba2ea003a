import { afterAll } from 'vitest';

import { scanKeys, TEST_PREFIX_START, testConnection, testRedisMode } from './redis.ts';
import { openResources } from './resources.ts';

// Like graphile-worker's global afterEach: a test file that leaves a worker, queue or server
// open fails instead of leaking it into the next file.
afterAll(async () => {
  const leaked = openResources();
  if (leaked.length > 0) {
    throw new Error(`test file left resources open: ${leaked.join(', ')}`);
  }
});

// The slot audit: on the shared cluster every test runs under a hash-tag prefix, so a key
// askq writes outside its prefix (cache, TPM bucket, rate-limit keys, pauses, …) shows up
// here as a key without the `{askq-test-…}` tag, and fails the file that ran.
afterAll(async () => {
  if (testRedisMode() !== 'cluster') return;
  const redis = testConnection();
  try {
    const strays = (await scanKeys(redis, '*')).filter(
      (key) => !key.startsWith(`{${TEST_PREFIX_START}`),
    );
    if (strays.length > 0) {
      throw new Error(
        `keys outside a hash-tag prefix on the cluster: ${strays.slice(0, 20).join(', ')}`,
      );
    }
  } finally {
    redis.disconnect();
  }
});
