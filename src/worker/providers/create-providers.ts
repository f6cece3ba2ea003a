import type { Config } from '../../shared/config.ts';
import type { Logger } from '../../shared/logger.ts';
import type { ChatPort, EmbeddingsPort, VectorStorePort } from '../../shared/ports.ts';
import type { Ports } from '../resilience/guarded-ports.ts';
import { BatchedEmbeddings } from './batched-embeddings.ts';

/**
 * Builds the port for each of chat, embeddings and vector store from the configuration
 * (remote when selected or its key is set, else the embedded local one) and logs which
 * provider serves each port. Each provider's module is loaded only when selected, so a local
 * worker never loads LangChain or the Pinecone SDK, and a remote one never loads LanceDB.
 */
export async function createProviders(config: Config, logger?: Logger): Promise<Ports> {
  const chat = await createChat(config);
  const embeddings = await createEmbeddings(config);
  const store = await createStore(config, embeddings);
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

async function createChat(config: Config): Promise<ChatPort> {
  if (config.ASKQ_LLM !== 'openai') {
    const { ExtractiveChat } = await import('./local/extractive-chat.ts');
    return new ExtractiveChat();
  }
  const { OpenAIChat } = await import('./openai/openai-chat.ts');
  const fallbackModel = config.ASKQ_FALLBACK_CHAT_MODEL;
  return new OpenAIChat({
    apiKey: required(config.OPENAI_API_KEY, 'OPENAI_API_KEY'),
    ...(config.OPENAI_BASE_URL ? { baseURL: config.OPENAI_BASE_URL } : {}),
    model: config.ASKQ_CHAT_MODEL,
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
  });
}

async function createEmbeddings(config: Config): Promise<EmbeddingsPort> {
  if (config.ASKQ_EMBEDDINGS !== 'openai') {
    const { HashingEmbeddings } = await import('./local/hashing-embeddings.ts');
    return new HashingEmbeddings({ dimensions: config.ASKQ_LOCAL_EMBEDDING_DIMENSIONS });
  }
  const { OpenAIEmbeddingsProvider } = await import('./openai/openai-embeddings.ts');
  return batched(
    config,
    new OpenAIEmbeddingsProvider({
      apiKey: required(config.OPENAI_API_KEY, 'OPENAI_API_KEY'),
      ...(config.OPENAI_BASE_URL ? { baseURL: config.OPENAI_BASE_URL } : {}),
      model: config.ASKQ_EMBEDDING_MODEL,
      ...(config.ASKQ_EMBEDDING_DIMENSIONS ? { dimensions: config.ASKQ_EMBEDDING_DIMENSIONS } : {}),
    }),
  );
}

async function createStore(config: Config, embeddings: EmbeddingsPort): Promise<VectorStorePort> {
  if (config.ASKQ_VECTOR_STORE !== 'pinecone') {
    const { LanceDbVectorStore } = await import('./local/lancedb-store.ts');
    return LanceDbVectorStore.open({
      dir: config.ASKQ_LOCAL_STORE_DIR,
      embeddingId: embeddingSpaceId(config, embeddings),
    });
  }
  const { PineconeVectorStore } = await import('./pinecone/pinecone-store.ts');
  return new PineconeVectorStore({
    apiKey: required(config.PINECONE_API_KEY, 'PINECONE_API_KEY'),
    index: required(config.PINECONE_INDEX, 'PINECONE_INDEX'),
    ...(config.PINECONE_HOST ? { host: config.PINECONE_HOST } : {}),
    ...(config.PINECONE_CONTROLLER_HOST
      ? { controllerHostUrl: config.PINECONE_CONTROLLER_HOST }
      : {}),
  });
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
