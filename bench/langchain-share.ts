/**
 * LangChain's CPU per chat call (issue 16, item 3): the same chat completion sent to the fake
 * OpenAI server (its own process, answering at once) three ways, in this one process:
 *
 * - raw: the openai SDK's `chat.completions.create`, the floor any client pays;
 * - template pipe (askq before issue 16): `ChatPromptTemplate.fromMessages(…).pipe(ChatOpenAI)`
 *   invoked with the prompt's variables, as OpenAIChat did;
 * - direct (askq now): OpenAIChat.answer, which builds the two messages and calls
 *   `ChatOpenAI.invoke(messages, { signal })` with no callback handlers.
 *
 * Each way runs `--calls` calls at `--concurrency`, alternating in `--rounds` rounds after a
 * warm-up; the figure is this process's CPU time (user + system, process.cpuUsage) per call,
 * the median over rounds. LangChain's share is a way's CPU per call minus raw's.
 *
 *   node bench/langchain-share.ts [--calls 2000] [--concurrency 8] [--rounds 3]
 */
import { parseArgs } from 'node:util';

import type { AIMessage } from '@langchain/core/messages';
import { ChatPromptTemplate } from '@langchain/core/prompts';
import type { Runnable } from '@langchain/core/runnables';
import { ChatOpenAI } from '@langchain/openai';
import OpenAI from 'openai';

import type { ChatInput } from '../src/shared/ports.ts';
import { nodeHttpFetch } from '../src/worker/providers/openai/node-http-fetch.ts';
import {
  chatMessages,
  formatContext,
  OpenAIChat,
} from '../src/worker/providers/openai/openai-chat.ts';
import { type BenchResult, type Figure, fmt, runAsScript } from './lib/bench-result.ts';
import { startFakeProcess } from './lib/processes.ts';

const API_KEY = 'sk-bench-langchain-share';
const MODEL = 'gpt-4o-mini';
const MAX_TOKENS = 512;

export interface LangchainShareOptions {
  /** Calls per way per round. @defaultValue 2000 */
  calls?: number;
  /** Calls in flight at once. @defaultValue 8 */
  concurrency?: number;
  /** @defaultValue 3 */
  rounds?: number;
}

type Way = 'raw' | 'template pipe' | 'direct';
type Call = (input: ChatInput) => Promise<unknown>;

/** A job's input of realistic size: four 800-character passages and a question. */
function input(i: number): ChatInput {
  const passage = (n: number) =>
    `Passage ${n} of question ${i}: `.padEnd(800, 'BullMQ retries jobs with backoff. ');
  return {
    question: `What does BullMQ do with failed job ${i}?`,
    context: [0, 1, 2, 3].map((n) => ({
      docId: `doc-${n}.md`,
      chunk: n,
      text: passage(n),
      score: 1 - n / 10,
    })),
  };
}

/**
 * The three ways, each answering one input; all ask the same server the same thing, through
 * the same HTTP client as OpenAIChat (nodeHttpFetch), so the differences are LangChain's.
 */
function ways(baseURL: string): Record<Way, Call> {
  const sdk = new OpenAI({ apiKey: API_KEY, baseURL, maxRetries: 0, fetch: nodeHttpFetch });
  const raw: Call = (chat) => {
    const [system, human] = chatMessages(chat);
    return sdk.chat.completions.create({
      model: MODEL,
      temperature: 0,
      max_tokens: MAX_TOKENS,
      messages: [
        { role: 'system', content: String(system!.content) },
        { role: 'user', content: String(human!.content) },
      ],
    });
  };
  // OpenAIChat's chain before issue 16, as it was built there.
  const model = new ChatOpenAI({
    apiKey: API_KEY,
    model: MODEL,
    temperature: 0,
    maxTokens: MAX_TOKENS,
    maxRetries: 0,
    useResponsesApi: false,
    configuration: { baseURL, fetch: nodeHttpFetch },
  });
  const chain = ChatPromptTemplate.fromMessages([
    ['system', '{system}'],
    ['human', 'Context:\n{context}\n\nQuestion: {question}'],
  ]).pipe(model) as Runnable<Record<string, string>, AIMessage>;
  const system = String(chatMessages({ question: '', context: [] })[0]!.content);
  const pipe: Call = (chat) =>
    chain.invoke(
      { system, context: formatContext(chat.context), question: chat.question },
      { signal: new AbortController().signal },
    );
  const direct = new OpenAIChat({ apiKey: API_KEY, baseURL, model: MODEL });
  return {
    raw,
    'template pipe': pipe,
    direct: (chat) => direct.answer(chat, new AbortController().signal),
  };
}

/** CPU ms of this process per call, `calls` calls at `concurrency`. */
async function measure(call: Call, calls: number, concurrency: number): Promise<number> {
  let next = 0;
  const before = process.cpuUsage();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < calls) await call(input(next++));
    }),
  );
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1000 / calls;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;

export async function run(options: LangchainShareOptions = {}): Promise<BenchResult> {
  const calls = options.calls ?? 2000;
  const concurrency = options.concurrency ?? 8;
  const rounds = options.rounds ?? 3;
  const t0 = performance.now();
  const fake = await startFakeProcess({ latencyMs: 0 });
  const perCall: Record<Way, number[]> = { raw: [], 'template pipe': [], direct: [] };
  try {
    const all = ways(fake.url);
    for (const call of Object.values(all)) await measure(call, 300, concurrency); // warm-up
    for (let r = 0; r < rounds; r++) {
      for (const way of Object.keys(all) as Way[]) {
        perCall[way].push(await measure(all[way], calls, concurrency));
      }
    }
  } finally {
    await fake.stop();
  }
  const raw = median(perCall.raw);
  const pipe = median(perCall['template pipe']);
  const direct = median(perCall.direct);
  const each = (way: Way) => perCall[way].map((ms) => fmt(ms, 3)).join(' / ');
  const figures: Figure[] = [
    { figure: 'calls per way per round / concurrency', measured: `${fmt(calls)} / ${concurrency}` },
    { figure: 'raw openai SDK: CPU ms per call (each round)', measured: each('raw') },
    {
      figure: 'template pipe (before): CPU ms per call (each round)',
      measured: each('template pipe'),
    },
    { figure: 'direct invoke (now): CPU ms per call (each round)', measured: each('direct') },
    {
      figure: "LangChain's CPU per call over raw (medians): template pipe → direct",
      measured: `${fmt(pipe - raw, 3)} ms → ${fmt(direct - raw, 3)} ms`,
    },
    {
      figure: 'CPU per call ÷ raw (medians): template pipe → direct',
      measured: `${fmt(pipe / raw, 2)} → ${fmt(direct / raw, 2)}`,
    },
  ];
  return {
    id: 'langchain-share',
    title: "LangChain's share of a chat call",
    compares:
      'this process’s CPU per chat completion to the fake OpenAI server (own process, no latency): the raw openai SDK vs ChatPromptTemplate.pipe(ChatOpenAI) (OpenAIChat before issue 16) vs OpenAIChat.answer (messages built once, ChatOpenAI.invoke, no callback handlers); same request, alternating rounds, median per way.',
    goal: 'none: shows what LangChain costs per call, before and after',
    figures,
    notes: [],
    seconds: (performance.now() - t0) / 1000,
  };
}

const { values } = parseArgs({
  strict: false,
  options: {
    calls: { type: 'string', default: '2000' },
    concurrency: { type: 'string', default: '8' },
    rounds: { type: 'string', default: '3' },
  },
});
await runAsScript(import.meta.main, () =>
  run({
    calls: Number(values.calls),
    concurrency: Number(values.concurrency),
    rounds: Number(values.rounds),
  }),
);
