import { afterAll } from 'vitest';

import { openResources } from './resources.ts';

// Like graphile-worker's global afterEach: a test file that leaves a worker, queue or server
// open fails instead of leaking it into the next file.
afterAll(async () => {
  const leaked = openResources();
  if (leaked.length > 0) {
    throw new Error(`test file left resources open: ${leaked.join(', ')}`);
  }
});
