import type { Config } from '../../shared/config.ts';
import type { Logger } from '../../shared/logger.ts';
import type { EmbeddingsPort, VectorStorePort } from '../../shared/ports.ts';
import type { Ports } from '../resilience/guarded-ports.ts';
import { BatchedEmbeddings } from './batched-embeddings.ts';
import { ExtractiveChat } from './local/extractive-chat.ts';
import { HashingEmbeddings } from './local/hashing-embeddings.ts';
import { LanceDbVectorStore } from './local/lancedb-store.ts';
import { OpenAIChat } from './openai/openai-chat.ts';
import { OpenAIEmbeddingsProvider } from './openai/openai-embeddings.ts';
import { PineconeVectorStore } from './pinecone/pinecone-store.ts';

/**
 * Builds the port for each of chat, embeddings and vector store from the configuration
 * (remote when selected or its key is set, else the embedded local one) and logs which
 * provider serves each port.
 */
export async function createProviders(config: Config, logger?: Logger): Promise<Ports> {
  const chat =
    config.ASKQ_LLM === 'openai'
      ? new OpenAIChat({
          apiKey: required(config.OPENAI_API_KEY, 'OPENAI_API_KEY'),
          ...(config.OPENAI_BASE_URL ? { baseURL: config.OPENAI_BASE_URL } : {}),
          model: config.ASKQ_CHAT_MODEL,
          temperature: config.ASKQ_TEMPERATURE,
          maxTokens: config.ASKQ_MAX_TOKENS,
          ...(config.ASKQ_FALLBACK_CHAT_MODEL
            ? {
                fallback: {
                  model: config.ASKQ_FALLBACK_CHAT_MODEL,
                  ...(config.ASKQ_FALLBACK_OPENAI_BASE_URL
                    ? { baseURL: config.ASKQ_FALLBACK_OPENAI_BASE_URL }
                    : {}),
                  ...(config.ASKQ_FALLBACK_OPENAI_API_KEY
                    ? { apiKey: config.ASKQ_FALLBACK_OPENAI_API_KEY }
                    : {}),
                },
              }
            : {}),
        })
      : new ExtractiveChat();
  const embeddings: EmbeddingsPort =
    config.ASKQ_EMBEDDINGS === 'openai'
      ? batched(
          config,
          new OpenAIEmbeddingsProvider({
            apiKey: required(config.OPENAI_API_KEY, 'OPENAI_API_KEY'),
            ...(config.OPENAI_BASE_URL ? { baseURL: config.OPENAI_BASE_URL } : {}),
            model: config.ASKQ_EMBEDDING_MODEL,
            ...(config.ASKQ_EMBEDDING_DIMENSIONS
              ? { dimensions: config.ASKQ_EMBEDDING_DIMENSIONS }
              : {}),
          }),
        )
      : new HashingEmbeddings({ dimensions: config.ASKQ_LOCAL_EMBEDDING_DIMENSIONS });
  const store: VectorStorePort =
    config.ASKQ_VECTOR_STORE === 'pinecone'
      ? new PineconeVectorStore({
          apiKey: required(config.PINECONE_API_KEY, 'PINECONE_API_KEY'),
          index: required(config.PINECONE_INDEX, 'PINECONE_INDEX'),
          ...(config.PINECONE_HOST ? { host: config.PINECONE_HOST } : {}),
          ...(config.PINECONE_CONTROLLER_HOST
            ? { controllerHostUrl: config.PINECONE_CONTROLLER_HOST }
            : {}),
        })
      : await LanceDbVectorStore.open({
          dir: config.ASKQ_LOCAL_STORE_DIR,
          embeddingId: embeddingSpaceId(config, embeddings),
        });
  logger?.info(
    {
      chat: `${chat.provider}:${chat.model}`,
      embeddings: `${embeddings.provider}:${embeddings.model}`,
      vectorStore:
        store.provider === 'lancedb'
          ? `lancedb:${config.ASKQ_LOCAL_STORE_DIR}`
          : `${store.provider}:${config.PINECONE_INDEX ?? ''}`,
    },
    'providers',
  );
  return { chat, embeddings, store };
}

/**
 * Names the vector space an embeddings model produces, so a local store never mixes vectors
 * of two models (or two sizes of one).
 */
export function embeddingSpaceId(config: Config, embeddings: EmbeddingsPort): string {
  const dims =
    embeddings.provider === 'local'
      ? String(config.ASKQ_LOCAL_EMBEDDING_DIMENSIONS)
      : String(config.ASKQ_EMBEDDING_DIMENSIONS ?? 'native');
  return `${embeddings.provider}-${embeddings.model}-${dims}`;
}

/** Remote embeddings queries of concurrent jobs share requests, unless turned off. */
function batched(config: Config, inner: EmbeddingsPort): EmbeddingsPort {
  if (config.ASKQ_EMBED_BATCH_WAIT_MS === 0) return inner;
  return new BatchedEmbeddings(inner, {
    maxWaitMs: config.ASKQ_EMBED_BATCH_WAIT_MS,
    maxBatchSize: config.ASKQ_EMBED_BATCH_SIZE,
    callTimeoutMs: config.ASKQ_CALL_TIMEOUT_MS,
  });
}

function required(value: string | undefined, name: string): string {
  // loadConfig already refuses this combination; this guards callers that build Config by hand.
  if (!value) throw new Error(`${name} is required for the selected provider`);
  return value;
}
