import type { Config } from '../../shared/config.ts';
import { DEFAULTS } from '../../shared/defaults.ts';

/** Which provider serves each port, and how to reach it. */
export interface ProviderOptions {
  /** Chat: OpenAI (or compatible) or the embedded extractive answerer. @defaultValue local */
  llm?: 'openai' | 'local';
  /** Embeddings: OpenAI (or compatible) or the embedded hashing embeddings. @defaultValue local */
  embeddings?: 'openai' | 'local';
  /** Vector store: Pinecone or the embedded LanceDB. @defaultValue local */
  vectorStore?: 'pinecone' | 'local';
  /** Required when `llm` or `embeddings` is `openai`. */
  openai?: {
    apiKey: string;
    /** An OpenAI-compatible server. @defaultValue the OpenAI API */
    baseURL?: string;
    /** @defaultValue gpt-4o-mini */
    chatModel?: string;
    /** @defaultValue text-embedding-3-small */
    embeddingModel?: string;
    /** @defaultValue the model's own */
    embeddingDimensions?: number;
    /** @defaultValue 0 */
    temperature?: number;
    /** @defaultValue 512 */
    maxTokens?: number;
    /** A second chat model tried when the first one's call fails. @defaultValue none */
    fallback?: { model: string; baseURL?: string; apiKey?: string };
  };
  /**
   * The grader model for `judge` and the RAG metrics (OpenAI-compatible, structured output).
   * Its server and key also serve a job's own grader model (`askq eval run --grader`).
   * @defaultValue none: `judge` errors and the RAG metrics are lexical
   */
  grader?: { model?: string; apiKey: string; baseURL?: string };
  /** Required when `vectorStore` is `pinecone`. */
  pinecone?: { apiKey: string; index: string; host?: string; controllerHostUrl?: string };
  local?: {
    /** Folder of the LanceDB store. @defaultValue .askq/store */
    storeDir?: string;
    /** Dimensions of the hashing embeddings. @defaultValue 1024 */
    embeddingDimensions?: number;
  };
}

/** The providers the configuration selects (`ASKQ_LLM`, `OPENAI_*`, `PINECONE_*`, …). */
export function providerOptionsFromConfig(config: Config): ProviderOptions {
  const fallbackModel = config.ASKQ_FALLBACK_CHAT_MODEL;
  return {
    llm: config.ASKQ_LLM,
    embeddings: config.ASKQ_EMBEDDINGS,
    vectorStore: config.ASKQ_VECTOR_STORE,
    ...(config.OPENAI_API_KEY
      ? {
          openai: {
            apiKey: config.OPENAI_API_KEY,
            ...(config.OPENAI_BASE_URL ? { baseURL: config.OPENAI_BASE_URL } : {}),
            chatModel: config.ASKQ_CHAT_MODEL,
            embeddingModel: config.ASKQ_EMBEDDING_MODEL,
            ...(config.ASKQ_EMBEDDING_DIMENSIONS
              ? { embeddingDimensions: config.ASKQ_EMBEDDING_DIMENSIONS }
              : {}),
            temperature: config.ASKQ_TEMPERATURE,
            maxTokens: config.ASKQ_MAX_TOKENS,
            ...(fallbackModel
              ? {
                  fallback: {
                    model: fallbackModel,
                    ...(config.ASKQ_FALLBACK_OPENAI_BASE_URL
                      ? { baseURL: config.ASKQ_FALLBACK_OPENAI_BASE_URL }
                      : {}),
                    ...(config.ASKQ_FALLBACK_OPENAI_API_KEY
                      ? { apiKey: config.ASKQ_FALLBACK_OPENAI_API_KEY }
                      : {}),
                  },
                }
              : {}),
          },
        }
      : {}),
    ...(config.ASKQ_GRADER_API_KEY || config.OPENAI_API_KEY
      ? {
          grader: {
            ...(config.ASKQ_GRADER_MODEL ? { model: config.ASKQ_GRADER_MODEL } : {}),
            apiKey: (config.ASKQ_GRADER_API_KEY ?? config.OPENAI_API_KEY)!,
            ...((config.ASKQ_GRADER_BASE_URL ?? config.OPENAI_BASE_URL)
              ? { baseURL: (config.ASKQ_GRADER_BASE_URL ?? config.OPENAI_BASE_URL)! }
              : {}),
          },
        }
      : {}),
    ...(config.PINECONE_API_KEY && config.PINECONE_INDEX
      ? {
          pinecone: {
            apiKey: config.PINECONE_API_KEY,
            index: config.PINECONE_INDEX,
            ...(config.PINECONE_HOST ? { host: config.PINECONE_HOST } : {}),
            ...(config.PINECONE_CONTROLLER_HOST
              ? { controllerHostUrl: config.PINECONE_CONTROLLER_HOST }
              : {}),
          },
        }
      : {}),
    local: {
      storeDir: config.ASKQ_LOCAL_STORE_DIR,
      embeddingDimensions: config.ASKQ_LOCAL_EMBEDDING_DIMENSIONS,
    },
  };
}

/** The options with every default filled in. */
export function resolveProviderOptions(options: ProviderOptions) {
  return {
    llm: options.llm ?? 'local',
    embeddings: options.embeddings ?? 'local',
    vectorStore: options.vectorStore ?? 'local',
    openai: options.openai
      ? {
          chatModel: DEFAULTS.chatModel,
          embeddingModel: DEFAULTS.embeddingModel,
          temperature: DEFAULTS.temperature,
          maxTokens: DEFAULTS.maxTokens,
          ...options.openai,
        }
      : undefined,
    grader: options.grader,
    pinecone: options.pinecone,
    local: {
      storeDir: DEFAULTS.localStoreDir,
      embeddingDimensions: DEFAULTS.localEmbeddingDimensions,
      ...options.local,
    },
  };
}
