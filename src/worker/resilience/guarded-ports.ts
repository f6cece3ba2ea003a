import type { Attributes, Span } from '@opentelemetry/api';

import { DEFAULTS } from '../../shared/defaults.ts';
import { failureClassOf } from '../../shared/errors.ts';
import type {
  ChatInput,
  ChatOutput,
  ChatPort,
  EmbeddingsPort,
  GraderPort,
  Ports,
  VectorStorePort,
} from '../../shared/ports.ts';
import { safeSetAttributes, SpanKind, withSpan } from '../../shared/telemetry/spans.ts';
import type { WorkerEventSink } from '../worker-events.ts';
import { type CallCost, type CallLimits, type CallPermit, estimateTokens } from './call-limits.ts';
import type { DependencyPolicies, DependencyPolicy } from './dependency-policies.ts';

export interface GuardPortsOptions {
  /** Where each model call is reported (`model:call`). */
  events: WorkerEventSink;
  /** Record question and answer text on model spans (ASKQ_CAPTURE_CONTENT). @defaultValue false */
  captureContent?: boolean;
  /**
   * Requests and tokens per minute shared by all workers (ASKQ_LLM_RPM, ASKQ_LLM_TPM), taken
   * by every chat and grader call. @defaultValue none
   */
  limits?: CallLimits;
}

/**
 * Wraps each port so every call runs through its dependency's policy (pause, breaker,
 * classification, per-call timeout) inside a client span named and attributed after the OTel
 * GenAI and database conventions; a chat or grader call first waits for its turn under the
 * model-call limits (ASKQ_LLM_RPM, ASKQ_LLM_TPM). The ports still take a signal per call (the
 * job's); the pipeline receives them bound to it and never sees opossum or OTel.
 */
export function guardPorts(
  ports: Ports,
  policies: DependencyPolicies,
  options: GuardPortsOptions,
): Ports {
  const { chat, embeddings, store, grader } = ports;
  const capture = options.captureContent ?? false;
  // Built once: the SDK copies a span's attributes, so every call can share these.
  const chatAttributes = genAi('chat', chat);
  const chatSpan = `chat ${chat.model}`;
  const embeddingsAttributes = genAi('embeddings', embeddings);
  const embeddingsSpan = `embeddings ${embeddings.model}`;
  return {
    ...(grader ? { grader: guardGrader(grader, policies.grader, options) } : {}),
    chat: {
      provider: chat.provider,
      model: chat.model,
      ...(chat.serverAddress ? { serverAddress: chat.serverAddress } : {}),
      ...(chat.identity ? { identity: (settings) => chat.identity!(settings) } : {}),
      answer: (input, outer) => {
        // A variant's model is the one asked for.
        const attributes = input.settings?.model
          ? { ...chatAttributes, 'gen_ai.request.model': input.settings.model }
          : chatAttributes;
        return limitedModelCall({
          name: chatSpan,
          attributes,
          cost: () => chatCost(chat, input),
          options,
          policy: policies.chat,
          outer,
          call: (span) => {
            if (capture) safeSetAttributes(span, { 'gen_ai.input.messages': input.question });
            return policies.chat.execute((signal) => chat.answer(input, signal), outer);
          },
          record: (span, out) => recordChat(span, out, capture),
        });
      },
    },
    embeddings: {
      provider: embeddings.provider,
      model: embeddings.model,
      ...(embeddings.serverAddress ? { serverAddress: embeddings.serverAddress } : {}),
      embedQuery: (text, outer) =>
        withSpan(embeddingsSpan, { kind: SpanKind.CLIENT, attributes: embeddingsAttributes }, () =>
          policies.embeddings.execute((signal) => embeddings.embedQuery(text, signal), outer),
        ),
      embedDocuments: (texts, outer) => {
        const attributes = { ...embeddingsAttributes, 'askq.inputs': texts.length };
        return withSpan(embeddingsSpan, { kind: SpanKind.CLIENT, attributes }, () =>
          policies.embeddings.execute((signal) => embeddings.embedDocuments(texts, signal), outer),
        );
      },
    },
    store: {
      provider: store.provider,
      ...(store.indexName ? { indexName: store.indexName } : {}),
      ...(store.serverAddress ? { serverAddress: store.serverAddress } : {}),
      upsert: (ns, records, outer) =>
        withSpan(
          `upsert ${store.indexName ?? store.provider}`,
          { kind: SpanKind.CLIENT, attributes: db(store, 'upsert', ns) },
          () => policies.vectorStore.execute((signal) => store.upsert(ns, records, signal), outer),
        ),
      deleteChunksFrom: (ns, docId, from, outer) =>
        withSpan(
          `delete ${store.indexName ?? store.provider}`,
          { kind: SpanKind.CLIENT, attributes: db(store, 'delete', ns) },
          () =>
            policies.vectorStore.execute(
              (signal) => store.deleteChunksFrom(ns, docId, from, signal),
              outer,
            ),
        ),
      query: (ns, vector, topK, outer) =>
        withSpan(
          `query ${store.indexName ?? store.provider}`,
          { kind: SpanKind.CLIENT, attributes: { ...db(store, 'query', ns), 'askq.top_k': topK } },
          async (span) => {
            const matches = await policies.vectorStore.execute(
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

/**
 * The grader behind its own policy (pause, breaker, classification, timeout) and the model-call
 * limits, in a `chat <model>` client span; its calls are reported as model calls like
 * answering's.
 * Also used for the graders a job names (`--grader`), built after the worker started.
 */
export function guardGrader(
  grader: GraderPort,
  policy: DependencyPolicy,
  options: GuardPortsOptions,
): GraderPort {
  return {
    provider: grader.provider,
    model: grader.model,
    ...(grader.serverAddress ? { serverAddress: grader.serverAddress } : {}),
    grade: (request, outer) =>
      limitedModelCall({
        name: `chat ${grader.model}`,
        attributes: { ...genAi('chat', grader), 'askq.grader.metric': request.name },
        cost: () => ({
          promptTokens: estimateTokens(request.instructions) + estimateTokens(request.input),
          maxOutputTokens: grader.maxOutputTokens ?? DEFAULTS.maxTokens,
        }),
        options,
        policy,
        outer,
        call: () => policy.execute((signal) => grader.grade(request, signal), outer),
        record: (span, out) =>
          safeSetAttributes(span, {
            'gen_ai.response.model': out.model,
            'gen_ai.usage.input_tokens': out.usage.inputTokens,
            'gen_ai.usage.output_tokens': out.usage.outputTokens,
          }),
      }),
  };
}

/**
 * One chat or grader call: its turn under the model-call limits first (outside the span, so
 * the span times the call alone), then the call in a `chat <model>` client span; the permit is
 * settled with the tokens used (or given back on failure) and the call reported as a
 * `model:call` event either way. A call its policy refuses now (the provider's pause, an open
 * breaker) books no turn: it goes straight to the policy, which refuses it as it would anyway.
 */
async function limitedModelCall<T extends { model: string; usage: ChatOutput['usage'] }>(c: {
  name: string;
  attributes: Attributes;
  /** Estimated only under limits: it reads the whole prompt. */
  cost: () => CallCost;
  options: GuardPortsOptions;
  policy: DependencyPolicy;
  outer: AbortSignal | undefined;
  call: (span: Span) => Promise<T>;
  record: (span: Span, out: T) => void;
}): Promise<T> {
  const { events, limits } = c.options;
  // Without limits, no microtask spent awaiting nothing.
  const permit =
    limits && !c.policy.refuses() ? await limits.acquire(c.cost(), c.outer) : undefined;
  return withSpan(c.name, { kind: SpanKind.CLIENT, attributes: c.attributes }, async (span) => {
    const started = performance.now();
    recordWait(span, permit);
    try {
      const out = await c.call(span);
      if (permit) await permit.settle(out.usage.inputTokens + out.usage.outputTokens);
      c.record(span, out);
      events.emit('model:call', {
        attributes: { ...c.attributes, 'gen_ai.response.model': out.model },
        seconds: (performance.now() - started) / 1000,
        usage: out.usage,
      });
      return out;
    } catch (err) {
      await permit?.settle(undefined);
      events.emit('model:call', {
        attributes: c.attributes,
        seconds: (performance.now() - started) / 1000,
        errorType: failureClassOf(err) ?? (err as Error).name,
      });
      throw err;
    }
  });
}

/** Prompt tokens the chat provider's template adds around the question and sources. */
const CHAT_PROMPT_OVERHEAD_TOKENS = 100;

/** What a chat call may cost: its prompt's estimate and the port's output limit. */
function chatCost(chat: ChatPort, input: ChatInput): CallCost {
  let promptTokens = CHAT_PROMPT_OVERHEAD_TOKENS + estimateTokens(input.question);
  for (const c of input.context) promptTokens += estimateTokens(c.text);
  if (input.settings?.systemPrompt) promptTokens += estimateTokens(input.settings.systemPrompt);
  return { promptTokens, maxOutputTokens: chat.maxOutputTokens ?? DEFAULTS.maxTokens };
}

function recordWait(span: Span, permit: CallPermit | undefined): void {
  if (permit?.waitedMs) safeSetAttributes(span, { 'askq.limits.wait_ms': permit.waitedMs });
}

function genAi(operation: string, port: ChatPort | EmbeddingsPort | GraderPort): Attributes {
  return {
    'gen_ai.operation.name': operation,
    'gen_ai.provider.name': port.provider,
    'gen_ai.request.model': port.model,
    ...(port.serverAddress ? { 'server.address': port.serverAddress } : {}),
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

function recordChat(span: Span, out: ChatOutput, capture: boolean): void {
  safeSetAttributes(span, {
    'gen_ai.response.model': out.model,
    'gen_ai.usage.input_tokens': out.usage.inputTokens,
    'gen_ai.usage.output_tokens': out.usage.outputTokens,
    ...(out.finishReason ? { 'gen_ai.response.finish_reasons': [out.finishReason] } : {}),
    ...(capture ? { 'gen_ai.output.messages': out.text } : {}),
  });
}
