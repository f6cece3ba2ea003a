import type { BaseMessage } from '@langchain/core/messages';
import { ChatOpenAI } from '@langchain/openai';

import type { GradeOutput, GradeRequest, GraderPort } from '../../../shared/ports.ts';
import { GraderReplyError } from '../../../shared/scoring/grader-errors.ts';
import { nodeHttpFetch } from './node-http-fetch.ts';
import { hostOf } from './openai-chat.ts';

/** Options of {@link OpenAIGrader}. */
export interface OpenAIGraderOptions {
  /** API key; sent as a bearer token, never logged. */
  apiKey: string;
  /** Base URL of an OpenAI-compatible server. @defaultValue the OpenAI API */
  baseURL?: string;
  /** Grader model, e.g. `gpt-4o`. */
  model: string;
  /** Max output tokens of one grading reply. @defaultValue 1024 */
  maxTokens?: number;
}

const DEFAULTS = { maxTokens: 1024 } satisfies Partial<OpenAIGraderOptions>;

/** Errors LangChain throws for a reply it cannot parse into the schema (zod 4 names `$ZodError`). */
const REPLY_ERRORS = new Set(['OutputParserException', 'ZodError', '$ZodError']);

/**
 * The grader port on LangChain's ChatOpenAI with `withStructuredOutput` (JSON schema response
 * format), at temperature 0 so a grade is repeatable. `maxRetries: 0`: the queue owns
 * retries. A reply that does not parse or does not match the schema is a
 * {@link GraderReplyError} naming what came back; transport errors are left as the SDK threw
 * them, for the worker to classify like any provider call.
 */
export class OpenAIGrader implements GraderPort {
  readonly provider = 'openai';
  readonly model: string;
  readonly serverAddress: string;
  readonly maxOutputTokens: number;
  readonly #llm: ChatOpenAI;

  constructor(options: OpenAIGraderOptions) {
    if (!options.apiKey) throw new TypeError('OpenAIGrader needs an apiKey (ASKQ_GRADER_API_KEY)');
    if (!options.model) throw new TypeError('OpenAIGrader needs a model (ASKQ_GRADER_MODEL)');
    this.model = options.model;
    this.serverAddress = hostOf(options.baseURL);
    this.maxOutputTokens = options.maxTokens ?? DEFAULTS.maxTokens;
    this.#llm = new ChatOpenAI({
      apiKey: options.apiKey,
      model: options.model,
      temperature: 0,
      maxTokens: this.maxOutputTokens,
      maxRetries: 0,
      useResponsesApi: false,
      configuration: {
        fetch: nodeHttpFetch,
        ...(options.baseURL ? { baseURL: options.baseURL } : {}),
      },
    });
  }

  async grade<T>(request: GradeRequest<T>, signal?: AbortSignal): Promise<GradeOutput<T>> {
    const structured = this.#llm.withStructuredOutput(request.schema as never, {
      name: request.name,
      method: 'jsonSchema',
      strict: true,
      includeRaw: true,
    });
    let out: { raw: BaseMessage; parsed: unknown };
    try {
      out = (await structured.invoke(
        [
          { role: 'system', content: request.instructions },
          { role: 'user', content: request.input },
        ],
        { signal },
      )) as { raw: BaseMessage; parsed: unknown };
    } catch (err) {
      // The client parses and checks the reply itself: one that is not JSON, or not of the
      // schema, surfaces here.
      if (err instanceof SyntaxError || REPLY_ERRORS.has((err as Error).name)) {
        throw new GraderReplyError(
          `${request.name}: the grader's reply does not match its schema: ${(err as Error).message.slice(0, 200)}`,
          { cause: err },
        );
      }
      throw err;
    }
    const raw = out.raw;
    const checked = request.schema.safeParse(out.parsed);
    if (!checked.success) {
      const text = typeof raw.content === 'string' ? raw.content : JSON.stringify(raw.content);
      throw new GraderReplyError(
        `${request.name}: the grader's reply does not match its schema: ${text.slice(0, 200)}`,
      );
    }
    const metadata = raw.response_metadata as { model_name?: unknown };
    const usage = (raw as { usage_metadata?: { input_tokens?: number; output_tokens?: number } })
      .usage_metadata;
    return {
      value: checked.data,
      model: typeof metadata.model_name === 'string' ? metadata.model_name : this.model,
      usage: { inputTokens: usage?.input_tokens ?? 0, outputTokens: usage?.output_tokens ?? 0 },
    };
  }
}
