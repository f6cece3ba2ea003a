import type {
  ChatInput,
  ChatOutput,
  ChatPort,
  EmbeddingsPort,
  VectorMatch,
  VectorRecord,
  VectorStorePort,
} from '../../src/shared/ports.ts';
import type { Ports } from '../../src/shared/ports.ts';

/** A failure to throw on the next call(s) of a fake port. */
export type Script = (() => unknown)[];

/**
 * In-process ports for orchestration tests (the worker, retries, checkpoints): instant,
 * counting their calls, failing as scripted. Provider behaviour over HTTP is tested against
 * the fake servers instead.
 */
export class FakePorts implements Ports {
  readonly calls = { chat: 0, embed: 0, query: 0, upsert: 0 };
  /** When each chat call was made (Date.now()). */
  readonly chatTimes: number[] = [];
  readonly failures: { chat: Script; embed: Script; query: Script } = {
    chat: [],
    embed: [],
    query: [],
  };
  readonly records = new Map<string, VectorRecord>();
  readonly chat: ChatPort;
  readonly embeddings: EmbeddingsPort;
  readonly store: VectorStorePort;

  constructor() {
    const next = (script: Script) => {
      const fail = script.shift();
      if (fail) throw fail();
    };
    this.chat = {
      provider: 'fake',
      model: 'fake-chat',
      answer: async (input: ChatInput): Promise<ChatOutput> => {
        this.calls.chat += 1;
        this.chatTimes.push(Date.now());
        next(this.failures.chat);
        const best = input.context[0];
        return {
          text: best ? `From ${best.docId}: ${best.text}` : 'no context',
          model: 'fake-chat',
          usage: { inputTokens: input.question.length, outputTokens: 3 },
          finishReason: 'stop',
        };
      },
    };
    this.embeddings = {
      provider: 'fake',
      model: 'fake-embed',
      embedQuery: async (text) => {
        this.calls.embed += 1;
        next(this.failures.embed);
        return vector(text);
      },
      embedDocuments: async (texts) => {
        this.calls.embed += 1;
        next(this.failures.embed);
        return texts.map(vector);
      },
    };
    this.store = {
      provider: 'fake',
      upsert: async (ns, records) => {
        this.calls.upsert += 1;
        for (const r of records) this.records.set(`${ns}\u0000${r.id}`, r);
      },
      deleteChunksFrom: async (ns, docId, from) => {
        let n = 0;
        for (const [key, r] of this.records) {
          if (key.startsWith(`${ns}\u0000`) && r.docId === docId && r.chunk >= from) {
            this.records.delete(key);
            n += 1;
          }
        }
        return n;
      },
      query: async (ns, v, topK): Promise<VectorMatch[]> => {
        this.calls.query += 1;
        next(this.failures.query);
        // Plain loops: the benchmarks use these ports as "instant", so their own cost per
        // query (copies of the record list, closures, boxed sums) stays out of askq's figures.
        const prefix = `${ns}\u0000`;
        const matches: VectorMatch[] = [];
        for (const [key, r] of this.records) {
          if (!key.startsWith(prefix)) continue;
          matches.push({ docId: r.docId, chunk: r.chunk, text: r.text, score: dot(v, r.values) });
        }
        return matches.sort((a, b) => b.score - a.score).slice(0, topK);
      },
      close: async () => {},
    };
  }
}

/** A tiny bag-of-letters vector: enough for "the doc sharing words with the question wins". */
function vector(text: string): number[] {
  const v = new Array<number>(26).fill(0);
  for (const ch of text.toLowerCase()) {
    const i = ch.charCodeAt(0) - 97;
    if (i >= 0 && i < 26) v[i] = (v[i] ?? 0) + 1;
  }
  const norm = Math.hypot(...v) || 1;
  return v.map((x) => x / norm);
}

function dot(a: number[], b: number[]): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * (b[i] ?? 0);
  return s;
}

/**
 * FakePorts whose store holds `docs` (docId → text) in the `default` namespace, embedded with
 * the fake embeddings so similarity is meaningful; the seeding's calls are not counted.
 */
export async function seededFakePorts(
  docs: Record<string, string> = { 'bullmq.md': 'bullmq retries jobs' },
): Promise<FakePorts> {
  const ports = new FakePorts();
  const records = await Promise.all(
    Object.entries(docs).map(async ([docId, text]) => ({
      id: `${docId}#0`,
      docId,
      chunk: 0,
      text,
      values: await ports.embeddings.embedQuery(text),
    })),
  );
  await ports.store.upsert('default', records);
  ports.calls.embed = 0;
  ports.calls.upsert = 0;
  return ports;
}
