/**
 * The OpenAI-compatible fake in a process of its own (as fake-openai-child.ts) that also
 * records, per chat request, when it had the whole request and when it answered, on the clock
 * the worker reads too (`performance.timeOrigin + performance.now()`, ms). The question's
 * number (`Question <n>:` in the last message) names the request. On SIGTERM writes
 * `{ "<n>": [received, answered] }` to `--out` and exits. For bench/llm-turn-trace.ts.
 *
 *   node bench/lib/fake-trace-child.ts --latency 200 --out FILE.json
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

import { startFakeOpenAI } from '../../test/support/fake-openai-server.ts';

const { values } = parseArgs({
  options: { latency: { type: 'string', default: '200' }, out: { type: 'string' } },
});
if (!values.out) throw new Error('--out FILE is required');
const now = () => performance.timeOrigin + performance.now();
const times: Record<string, [number, number]> = {};
const fake = await startFakeOpenAI({
  latencyMs: Number(values.latency),
  onTraffic: (event) => {
    if (event.route !== 'chat') return;
    const body = event.request.body as { messages?: { content?: unknown }[] } | undefined;
    const last = body?.messages?.at(-1)?.content;
    const n = typeof last === 'string' ? /Question (\d+):/.exec(last)?.[1] : undefined;
    if (n === undefined) return;
    const entry = (times[n] ??= [NaN, NaN]);
    if (event.kind === 'request') entry[0] = now();
    if (event.kind === 'response') entry[1] = now();
  },
});
console.log(`FAKE_URL ${fake.url}`);
// As fake-openai-child.ts: gone with the parent.
process.stdin.on('end', () => process.exit(0)).resume();
process.once('SIGTERM', () => {
  writeFileSync(values.out!, JSON.stringify(times));
  void fake.close().then(() => process.exit(0));
});
