/**
 * The OpenAI-compatible fake in a process of its own, so its HTTP work is not billed to the
 * worker being measured. Prints `FAKE_URL <url>` once listening; on SIGTERM prints
 * `FAKE_CALLS <json>` (calls per route, 429s sent) and exits.
 *
 *   node bench/lib/fake-openai-child.ts [--latency 200] [--rpm 0] [--rate-routes chat]
 */
import { parseArgs } from 'node:util';

import { startFakeOpenAI } from '../../test/support/fake-openai-server.ts';

const { values } = parseArgs({
  options: {
    latency: { type: 'string', default: '0' },
    rpm: { type: 'string', default: '0' },
    'rate-routes': { type: 'string', default: 'chat' },
  },
});
const rpm = Number(values.rpm);
const fake = await startFakeOpenAI({
  latencyMs: Number(values.latency),
  ...(rpm > 0
    ? {
        rateLimit: {
          requestsPerMinute: rpm,
          routes: values['rate-routes'].split(',') as ('chat' | 'embeddings')[],
        },
      }
    : {}),
});
console.log(`FAKE_URL ${fake.url}`);
process.once('SIGTERM', () => {
  console.log(`FAKE_CALLS ${JSON.stringify({ ...fake.calls, rateLimited: fake.rateLimited })}`);
  void fake.close().then(() => process.exit(0));
});
