import type { Attributes, Span } from '@opentelemetry/api';

import { failureClassOf } from '../../shared/errors.ts';
import type { ChatOutput, ChatPort, EmbeddingsPort, VectorStorePort } from '../../shared/ports.ts';
import { askqMetrics } from '../../shared/telemetry/metrics.ts';
import { safeSetAttributes, SpanKind, withSpan } from '../../shared/telemetry/spans.ts';
import type { DependencyGuard } from './dependency-guard.ts';
import type { TokenBudget } from './token-budget.ts';

/** The three ports the pipeline uses. */
export interface Ports {
  chat: ChatPort;
  embeddings: EmbeddingsPort;
  store: VectorStorePort;
}

export interface Guards {
  chat: DependencyGuard;
  embeddings: DependencyGuard;
  vectorStore: DependencyGuard;
}

export interface GuardPortsOptions {
  /** The job's signal: cancelling the job cancels its calls. */
  signal?: AbortSignal;
  /** Record question and answer text on model spans (ASKQ_CAPTURE_CONTENT). @defaultValue false */
  captureContent?: boolean;
  /** Tokens-per-minute budget shared by all workers (ASKQ_LLM_TPM). @defaultValue none */
  tokenBudget?: TokenBudget;
}

/**
 * Wraps each port so every call goes through its dependency's guard (breaker, per-call
 * timeout, classification) inside a client span named and attributed after the OTel GenAI
 * and database conventions. The pipeline receives these and never sees opossum or OTel.
 */
export function guardPorts(ports: Ports, guards: Guards, options: GuardPortsOptions = {}): Ports {
  const { chat, embeddings, store } = ports;
  const outer = options.signal;
  const capture = options.captureContent ?? false;
  const metrics = askqMetrics();
  const genAi = (operation: string, port: ChatPort | EmbeddingsPort): Attributes => ({
    'gen_ai.operation.name': operation,
    'gen_ai.provider.name': port.provider,
    'gen_ai.request.model': port.model,
    ...(port.serverAddress ? { 'server.address': port.serverAddress } : {}),
  });
  return {
    chat: {
      provider: chat.provider,
      model: chat.model,
      ...(chat.serverAddress ? { serverAddress: chat.serverAddress } : {}),
      answer: (input) => {
        const attributes = genAi('chat', chat);
        return withSpan(
          `chat ${chat.model}`,
          { kind: SpanKind.CLIENT, attributes },
          async (span) => {
            const started = performance.now();
            if (capture) safeSetAttributes(span, { 'gen_ai.input.messages': input.question });
            try {
              await options.tokenBudget?.check();
              const out = await guards.chat.call((signal) => chat.answer(input, signal), outer);
              // Bookkeeping: a paid answer is never failed because the budget could not be updated.
              await options.tokenBudget
                ?.spend(out.usage.inputTokens + out.usage.outputTokens)
                .catch(() => {});
              recordChat(span, attributes, out, (performance.now() - started) / 1000, capture);
              return out;
            } catch (err) {
              metrics.operationDuration((performance.now() - started) / 1000, {
                ...attributes,
                'error.type': failureClassOf(err) ?? (err as Error).name,
              });
              throw err;
            }
          },
        );
      },
    },
    embeddings: {
      provider: embeddings.provider,
      model: embeddings.model,
      ...(embeddings.serverAddress ? { serverAddress: embeddings.serverAddress } : {}),
      embedQuery: (text) => {
        const attributes = genAi('embeddings', embeddings);
        return withSpan(
          `embeddings ${embeddings.model}`,
          { kind: SpanKind.CLIENT, attributes },
          () => guards.embeddings.call((signal) => embeddings.embedQuery(text, signal), outer),
        );
      },
      embedDocuments: (texts) => {
        const attributes = { ...genAi('embeddings', embeddings), 'askq.inputs': texts.length };
        return withSpan(
          `embeddings ${embeddings.model}`,
          { kind: SpanKind.CLIENT, attributes },
          () => guards.embeddings.call((signal) => embeddings.embedDocuments(texts, signal), outer),
        );
      },
    },
    store: {
      provider: store.provider,
      ...(store.indexName ? { indexName: store.indexName } : {}),
      ...(store.serverAddress ? { serverAddress: store.serverAddress } : {}),
      upsert: (ns, records) =>
        withSpan(
          `upsert ${store.indexName ?? store.provider}`,
          { kind: SpanKind.CLIENT, attributes: db(store, 'upsert', ns) },
          () => guards.vectorStore.call((signal) => store.upsert(ns, records, signal), outer),
        ),
      deleteChunksFrom: (ns, docId, from) =>
        withSpan(
          `delete ${store.indexName ?? store.provider}`,
          { kind: SpanKind.CLIENT, attributes: db(store, 'delete', ns) },
          () =>
            guards.vectorStore.call(
              (signal) => store.deleteChunksFrom(ns, docId, from, signal),
              outer,
            ),
        ),
      query: (ns, vector, topK) =>
        withSpan(
          `query ${store.indexName ?? store.provider}`,
          { kind: SpanKind.CLIENT, attributes: { ...db(store, 'query', ns), 'askq.top_k': topK } },
          async (span) => {
            const matches = await guards.vectorStore.call(
              (signal) => store.query(ns, vector, topK, signal),
              outer,
            );
            safeSetAttributes(span, { 'db.response.returned_rows': matches.length });
            return matches;
          },
        ),
      close: () => store.close(),
    },
  };
}

function db(store: VectorStorePort, operation: string, namespace: string): Attributes {
  return {
    'db.system.name': store.provider,
    'db.operation.name': operation,
    'db.namespace': namespace,
    ...(store.indexName ? { 'db.collection.name': store.indexName } : {}),
    ...(store.serverAddress ? { 'server.address': store.serverAddress } : {}),
  };
}

function recordChat(
  span: Span,
  attributes: Attributes,
  out: ChatOutput,
  seconds: number,
  capture: boolean,
): void {
  safeSetAttributes(span, {
    'gen_ai.response.model': out.model,
    'gen_ai.usage.input_tokens': out.usage.inputTokens,
    'gen_ai.usage.output_tokens': out.usage.outputTokens,
    ...(out.finishReason ? { 'gen_ai.response.finish_reasons': [out.finishReason] } : {}),
    ...(capture ? { 'gen_ai.output.messages': out.text } : {}),
  });
  const metrics = askqMetrics();
  const base = { ...attributes, 'gen_ai.response.model': out.model };
  metrics.operationDuration(seconds, base);
  metrics.tokenUsage(out.usage.inputTokens, { ...base, 'gen_ai.token.type': 'input' });
  metrics.tokenUsage(out.usage.outputTokens, { ...base, 'gen_ai.token.type': 'output' });
}
