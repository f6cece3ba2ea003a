import type { ChatPort, EmbeddingsPort } from '../../src/shared/ports.ts';
import type { Ports } from '../../src/shared/ports.ts';

/** One call a worker made through a port, as seen from inside its dependency's guard. */
export interface ObservedCall {
  port: 'chat' | 'embedQuery' | 'embedDocuments';
  /** When the guard let the call through (its timeout started in the same tick). */
  startedAt: number;
  endedAt?: number;
  /** What the call rejected with, if it did. */
  error?: unknown;
}

/**
 * The same ports, with every chat and embeddings call recorded: handed to an in-process
 * worker, which wraps them in its policies, so a record is a call the policies let through
 * (remote query embeddings arrive as one `embedDocuments` per shared request). Only
 * observes: the real providers (LangChain over HTTP) still do the work.
 */
export function observePorts(ports: Ports): { ports: Ports; calls: ObservedCall[] } {
  const calls: ObservedCall[] = [];
  const observe = async <T>(port: ObservedCall['port'], run: () => Promise<T>): Promise<T> => {
    const call: ObservedCall = { port, startedAt: Date.now() };
    calls.push(call);
    try {
      return await run();
    } catch (err) {
      call.error = err;
      throw err;
    } finally {
      call.endedAt = Date.now();
    }
  };
  const { chat, embeddings } = ports;
  const observedChat: ChatPort = {
    provider: chat.provider,
    model: chat.model,
    ...(chat.serverAddress ? { serverAddress: chat.serverAddress } : {}),
    answer: (input, signal) => observe('chat', () => chat.answer(input, signal)),
  };
  const observedEmbeddings: EmbeddingsPort = {
    provider: embeddings.provider,
    model: embeddings.model,
    ...(embeddings.serverAddress ? { serverAddress: embeddings.serverAddress } : {}),
    embedQuery: (text, signal) => observe('embedQuery', () => embeddings.embedQuery(text, signal)),
    embedDocuments: (texts, signal) =>
      observe('embedDocuments', () => embeddings.embedDocuments(texts, signal)),
  };
  return { ports: { ...ports, chat: observedChat, embeddings: observedEmbeddings }, calls };
}
