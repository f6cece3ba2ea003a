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

/** `count` distinct questions, as a bulk run would send. */
export function questions(count: number, offset = 0): string[] {
  const words = ['retries', 'breaker', 'stalled jobs', 'LCEL', 'RAG', 'rate limits', 'Redis'];
  return Array.from(
    { length: count },
    (_, i) => `Question ${i + offset}: how do ${words[(i + offset) % words.length]} work in askq?`,
  );
}
