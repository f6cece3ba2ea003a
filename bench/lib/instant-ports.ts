import type { ChatOutput, Ports, VectorMatch } from '../../src/shared/ports.ts';
import { FakePorts } from '../../test/support/fake-ports.ts';

const TOPICS = [
  'BullMQ retries failed jobs with exponential backoff and jitter up to the configured attempts.',
  'A circuit breaker opens after too many failures and rejects calls until its reset timeout.',
  'Stalled jobs are detected when a worker stops renewing the lock; another worker re-runs them.',
  'LCEL composes prompts, models and parsers into runnables that can be invoked or streamed.',
  'Retrieval-augmented generation embeds the question, searches a vector store, then prompts.',
  'Rate limits pause the whole queue so that no worker keeps hammering the provider meanwhile.',
  'Redis must run with maxmemory-policy noeviction, or queue keys could silently disappear.',
  'OpenTelemetry spans follow a question from enqueue through retrieval and generation.',
];

/**
 * FakePorts (instant, in-process chat, embeddings and store) with a small corpus in the
 * `default` namespace: chunks of about `chunkChars` characters, so results carry sources of a
 * realistic size (askq's default chunk size is 800).
 */
export async function instantPorts(chunkChars = 800, chunks = 8): Promise<FakePorts> {
  const ports = new FakePorts();
  const records = Array.from({ length: chunks }, (_, i) => {
    let text = '';
    while (text.length < chunkChars) text += `${TOPICS[(i + text.length) % TOPICS.length]} `;
    return {
      id: `doc-${i}.md#0`,
      docId: `doc-${i}.md`,
      chunk: 0,
      text: text.slice(0, chunkChars),
      values: [],
    };
  });
  const embedded = await ports.embeddings.embedDocuments(records.map((r) => r.text));
  await ports.store.upsert(
    'default',
    records.map((r, i) => ({ ...r, values: embedded[i]! })),
  );
  ports.calls.embed = 0;
  ports.calls.upsert = 0;
  return ports;
}

/**
 * {@link instantPorts}' corpus behind ports that do no work per call, for a benchmark that
 * bills everything in its process to askq: every text embeds to the same vector, so a query
 * returns the same matches, ranked once per namespace and topK; the chat port answers from
 * the best match as FakePorts does, built once per matched document. What a call returns is
 * what the instant ports would return for a question whose letters rank the corpus that way.
 */
export async function fixedPorts(chunkChars = 800, chunks = 8): Promise<Ports> {
  const fake = await instantPorts(chunkChars, chunks);
  const vector = await fake.embeddings.embedQuery(questions(1)[0]!);
  const ranked = new Map<string, VectorMatch[]>();
  const answers = new Map<string, ChatOutput>();
  return {
    chat: {
      provider: fake.chat.provider,
      model: fake.chat.model,
      answer: async (input) => {
        const key = input.context[0]?.docId ?? '';
        let out = answers.get(key);
        if (!out) answers.set(key, (out = await fake.chat.answer(input)));
        return out;
      },
    },
    embeddings: {
      provider: fake.embeddings.provider,
      model: fake.embeddings.model,
      embedQuery: async () => vector,
      embedDocuments: async (texts) => texts.map(() => vector),
    },
    store: {
      provider: fake.store.provider,
      upsert: (ns, records) => fake.store.upsert(ns, records),
      deleteChunksFrom: (ns, docId, from) => fake.store.deleteChunksFrom(ns, docId, from),
      query: async (ns, v, topK) => {
        const key = `${ns}\u0000${topK}`;
        let matches = ranked.get(key);
        if (!matches) ranked.set(key, (matches = await fake.store.query(ns, v, topK)));
        return matches;
      },
      close: () => fake.store.close(),
    },
  };
}

/** `count` distinct questions, as a bulk run would send. */
export function questions(count: number, offset = 0): string[] {
  const words = ['retries', 'breaker', 'stalled jobs', 'LCEL', 'RAG', 'rate limits', 'Redis'];
  return Array.from(
    { length: count },
    (_, i) => `Question ${i + offset}: how do ${words[(i + offset) % words.length]} work in askq?`,
  );
}
