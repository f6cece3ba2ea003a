/**
 * bench/eval-run.ts's floor without askq: one fresh Node process that loads BullMQ and
 * LangChain's ChatOpenAI (the client askq must use), starts a bare BullMQ Worker whose processor
 * only calls the model with the request askq sends (its system prompt and a context it
 * retrieved, from <prompt.json>, before each question), enqueues the same questions (addBulk,
 * a first chunk of 50 doubling to 500, as askq's eval runner does) and exits once all are
 * answered. No askq code: no retrieval, tracing, logging, scoring or result files. Plain JavaScript, so Node strips no
 * types at start (about 40 ms here) that the compiled CLI does not pay either. Prints
 * `BARE_EVAL <json>`, times in ms since this process started.
 *
 *   node bench/lib/bare-eval-child.mjs <redisUrl> <openaiBaseUrl> <questions.jsonl> <concurrency>
 *                                      <prefix> <prompt.json>
 *
 * prompt.json: `{ "system": string, "userPrefix": string }`, the user message before the question.
 */
import { enableCompileCache } from 'node:module';

// As the CLI does (src/cli.ts), before the libraries load.
enableCompileCache();
const { readFile } = await import('node:fs/promises');
const { Queue, Worker } = await import('bullmq');
const { ChatOpenAI } = await import('@langchain/openai');

const [redisUrl, baseURL, file, concurrency, prefix, promptFile] = process.argv.slice(2);
if (!redisUrl || !baseURL || !file || !concurrency || !prefix || !promptFile) {
  throw new Error(
    'usage: bare-eval-child.mjs <redisUrl> <baseUrl> <file> <concurrency> <prefix> <prompt.json>',
  );
}
const { system, userPrefix } = JSON.parse(await readFile(promptFile, 'utf8'));
const sinceStart = () => Math.round(performance.now());
const connection = { url: redisUrl };
const chat = new ChatOpenAI({
  model: 'gpt-4o-mini',
  apiKey: 'sk-bench',
  configuration: { baseURL },
});
const rows = (await readFile(file, 'utf8'))
  .split('\n')
  .filter((line) => line.trim())
  .map((line) => JSON.parse(line));
let firstStart;
let lastFinish = 0;
let answered = 0;
let allAnswered;
const finished = new Promise((resolve) => (allAnswered = resolve));
const worker = new Worker(
  'bare-eval',
  async (job) => {
    firstStart ??= sinceStart();
    const reply = await chat.invoke([
      { role: 'system', content: system },
      { role: 'user', content: userPrefix + String(job.data.question) },
    ]);
    return { answer: reply.content };
  },
  { connection, prefix, concurrency: Number(concurrency) },
);
worker.on('completed', () => {
  lastFinish = sinceStart();
  if (++answered === rows.length) allAnswered();
});
const queue = new Queue('bare-eval', { connection, prefix });
for (let i = 0, size = 50; i < rows.length; i += size, size = Math.min(size * 2, 500)) {
  await queue.addBulk(
    rows.slice(i, i + size).map((r) => ({ name: 'q', data: r, opts: { jobId: String(r.id) } })),
  );
}
await finished;
await Promise.all([worker.close(), queue.close()]);
console.log(`BARE_EVAL ${JSON.stringify({ firstStart, lastFinish, answered })}`);
// As the CLI ends (src/cli/main.ts), without waiting for idle keep-alive sockets.
process.exit(0);
