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
// The parent holds our stdin: when it is gone (killed by bench/run-all.ts's timeout, say), so
// are we, instead of serving on as an orphan that also keeps the parent's stderr pipe open.
process.stdin.on('end', () => process.exit(0)).resume();
process.once('SIGTERM', () => {
  console.log(`FAKE_CALLS ${JSON.stringify({ ...fake.calls, rateLimited: fake.rateLimited })}`);
  void fake.close().then(() => process.exit(0));
});
