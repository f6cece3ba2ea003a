import {
  type AIMessage,
  type BaseMessage,
  HumanMessage,
  SystemMessage,
} from '@langchain/core/messages';
import type { Runnable } from '@langchain/core/runnables';
import { ChatOpenAI, convertMessagesToCompletionsMessageParams } from '@langchain/openai';

import { DEFAULTS } from '../../../shared/defaults.ts';
import type {
  ChatInput,
  ChatOutput,
  ChatPort,
  ChatSettings,
  ContextChunk,
} from '../../../shared/ports.ts';
import { nodeHttpFetch } from './node-http-fetch.ts';

/** Options of {@link OpenAIChat}. */
export interface OpenAIChatOptions {
  /** API key; sent as a bearer token, never logged. */
  apiKey: string;
  /** Base URL of an OpenAI-compatible server (Ollama, vLLM, LM Studio). @defaultValue the OpenAI API */
  baseURL?: string;
  /** Chat model, e.g. `gpt-4o-mini`. */
  model: string;
  /** Sampling temperature. @defaultValue 0 */
  temperature?: number;
  /** Max output tokens of one answer. @defaultValue 512 */
  maxTokens?: number;
  /**
   * A second model tried (through LangChain's `withFallbacks`) when the first one's call fails,
   * e.g. on another OpenAI-compatible endpoint. Its base URL and key default to the first's.
   * @defaultValue none
   */
  fallback?: { model: string; baseURL?: string; apiKey?: string };
}

const SYSTEM_PROMPT = [
  'You answer questions using only the numbered context passages the user gives you.',
  'Cite the passages you use by their number in square brackets, like [1] or [2][3].',
  'If the context does not contain the answer, say that the provided context does not answer',
  'the question instead of guessing. Answer in the language of the question.',
].join(' ');

/** A model and temperature's runnable (with its fallback, if any) and its primary model. */
interface ModelEntry {
  llm: Runnable<BaseMessage[], AIMessage>;
  primary: ChatOpenAI;
}

/** What the prompt says when retrieval found nothing (or was skipped because it was down). */
export const NO_CONTEXT = '(no context was found for this question)';

/**
 * The chat port on LangChain's ChatOpenAI (chat completions API), so any OpenAI-compatible
 * server works. `maxRetries: 0`: the queue owns retries, so there is exactly one retry layer.
 * Errors are left as the SDK threw them; the worker classifies them.
 */
export class OpenAIChat implements ChatPort {
  readonly provider = 'openai';
  readonly model: string;
  readonly serverAddress: string;
  readonly maxOutputTokens: number;
  readonly #options: OpenAIChatOptions;
  /** One model per model name and temperature asked for (the configured one first). */
  readonly #models = new Map<string, ModelEntry>();

  constructor(options: OpenAIChatOptions) {
    if (!options.apiKey) throw new TypeError('OpenAIChat needs an apiKey (OPENAI_API_KEY)');
    if (!options.model) throw new TypeError('OpenAIChat needs a model (ASKQ_CHAT_MODEL)');
    this.model = options.model;
    this.serverAddress = hostOf(options.baseURL);
    this.maxOutputTokens = options.maxTokens ?? DEFAULTS.maxTokens;
    this.#options = options;
    this.#modelFor({});
  }

  #modelFor(settings: ChatSettings): ModelEntry {
    const options = this.#options;
    const model = settings.model ?? options.model;
    const temperature = settings.temperature ?? options.temperature ?? DEFAULTS.temperature;
    const key = `${model}\u0000${temperature}`;
    const cached = this.#models.get(key);
    if (cached) return cached;
    const chatModel = (name: string, apiKey: string, baseURL: string | undefined) =>
      new ChatOpenAI({
        apiKey,
        model: name,
        temperature,
        maxTokens: options.maxTokens ?? DEFAULTS.maxTokens,
        maxRetries: 0,
        // Chat completions, not the Responses API: it is what compatible servers implement.
        useResponsesApi: false,
        configuration: { fetch: nodeHttpFetch, ...(baseURL ? { baseURL } : {}) },
      });
    const primary = chatModel(model, options.apiKey, options.baseURL);
    const fb = options.fallback;
    const llm = fb
      ? primary.withFallbacks([
          chatModel(fb.model, fb.apiKey ?? options.apiKey, fb.baseURL ?? options.baseURL),
        ])
      : primary;
    const entry = { llm: llm as Runnable<BaseMessage[], AIMessage>, primary };
    this.#models.set(key, entry);
    return entry;
  }

  /**
   * The chat completions request body {@link answer} sends (the primary model's), for a Batch
   * API line: the same messages and the same LangChain model's parameters, so both lanes ask
   * the same thing.
   */
  async requestBody(input: ChatInput): Promise<Record<string, unknown>> {
    const settings = input.settings ?? {};
    const { primary } = this.#modelFor(settings);
    return {
      ...primary.invocationParams({}),
      messages: convertMessagesToCompletionsMessageParams({
        messages: chatMessages(input),
        model: settings.model ?? this.model,
      }),
    };
  }

  identity(settings: ChatSettings = {}): string {
    const o = this.#options;
    return JSON.stringify([
      this.provider,
      settings.model ?? o.model,
      settings.temperature ?? o.temperature ?? DEFAULTS.temperature,
      o.maxTokens ?? DEFAULTS.maxTokens,
      o.baseURL ?? '',
      settings.systemPrompt ?? SYSTEM_PROMPT,
      o.fallback?.model ?? '',
    ]);
  }

  /**
   * Answers from the context; `signal` aborts the HTTP request, response body included. The
   * model is invoked with the messages directly: no prompt template or runnable sequence in
   * between, and no callback handlers (none is passed, so LangChain builds no callback manager).
   */
  async answer(input: ChatInput, signal?: AbortSignal): Promise<ChatOutput> {
    const settings = input.settings ?? {};
    const message = await this.#modelFor(settings).llm.invoke(chatMessages(input), { signal });
    const metadata = message.response_metadata as { model_name?: unknown; finish_reason?: unknown };
    const finishReason =
      typeof metadata.finish_reason === 'string' ? metadata.finish_reason : undefined;
    return {
      text: message.text,
      model:
        typeof metadata.model_name === 'string'
          ? metadata.model_name
          : (settings.model ?? this.model),
      usage: {
        inputTokens: message.usage_metadata?.input_tokens ?? 0,
        outputTokens: message.usage_metadata?.output_tokens ?? 0,
      },
      ...(finishReason ? { finishReason } : {}),
    };
  }
}

/**
 * The job's two messages: the system prompt (the configured one, or a variant's, taken as
 * plain text so braces in it mean nothing) and the context and question.
 */
export function chatMessages(input: ChatInput): BaseMessage[] {
  return [
    new SystemMessage(input.settings?.systemPrompt ?? SYSTEM_PROMPT),
    new HumanMessage(`Context:\n${formatContext(input.context)}\n\nQuestion: ${input.question}`),
  ];
}

/** Numbered passages, best first, each headed by its source so the model can cite it. */
export function formatContext(context: ContextChunk[]): string {
  if (context.length === 0) return NO_CONTEXT;
  return context
    .map((c, i) => `[${i + 1}] (source: ${c.docId}#${c.chunk})\n${c.text.trim()}`)
    .join('\n\n');
}

/** The host an OpenAI-compatible base URL points at (`server.address` on spans). */
export function hostOf(baseURL: string | undefined): string {
  if (!baseURL) return 'api.openai.com';
  try {
    return new URL(baseURL).hostname;
  } catch {
    return 'unknown';
  }
}
