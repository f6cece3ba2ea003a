import { ConfigError } from '../../shared/config.ts';
import type { Logger } from '../../shared/logger.ts';
import type {
  ChatPort,
  EmbeddingsPort,
  GraderPort,
  Ports,
  VectorStorePort,
} from '../../shared/ports.ts';
import { type ProviderOptions, resolveProviderOptions } from './provider-options.ts';

type Resolved = ReturnType<typeof resolveProviderOptions>;

/**
 * Builds the port for each of chat, embeddings and vector store from the options and logs
 * which provider serves each port. Each provider's module is loaded only when selected, so
 * a local worker never loads LangChain or the Pinecone SDK, and a remote one never loads
 * LanceDB. The ports are raw: the worker puts them behind its policies.
 */
export async function createProviders(options: ProviderOptions, logger?: Logger): Promise<Ports> {
  const o = resolveProviderOptions(options);
  const chat = await createChat(o);
  const embeddings = await createEmbeddings(o);
  const store = await createStore(o, embeddings);
  const grader = o.grader?.model ? await createGrader(o.grader, o.grader.model) : undefined;
  logger?.info(
    {
      chat: `${chat.provider}:${chat.model}`,
      embeddings: `${embeddings.provider}:${embeddings.model}`,
      vectorStore:
        store.provider === 'lancedb'
          ? `lancedb:${o.local.storeDir}`
          : `${store.provider}:${o.pinecone?.index ?? ''}`,
      grader: grader ? `${grader.provider}:${grader.model}` : 'none (RAG metrics are lexical)',
    },
    'providers',
  );
  return { chat, embeddings, store, ...(grader ? { grader } : {}) };
}

/** A grader port for `model` on the grader's server (LangChain is loaded only here). */
export async function createGrader(
  server: { apiKey: string; baseURL?: string },
  model: string,
): Promise<GraderPort> {
  const { OpenAIGrader } = await import('./openai/openai-grader.ts');
  return new OpenAIGrader({
    apiKey: server.apiKey,
    model,
    ...(server.baseURL ? { baseURL: server.baseURL } : {}),
  });
}

/**
 * Names the vector space an embeddings model produces, so a local store never mixes vectors
 * of two models (or two sizes of one).
 */
function embeddingSpaceId(o: Resolved, embeddings: EmbeddingsPort): string {
  const dims =
    embeddings.provider === 'local'
      ? String(o.local.embeddingDimensions)
      : String(o.openai?.embeddingDimensions ?? 'native');
  return `${embeddings.provider}-${embeddings.model}-${dims}`;
}

async function createChat(o: Resolved): Promise<ChatPort> {
  if (o.llm !== 'openai') {
    const { ExtractiveChat } = await import('./local/extractive-chat.ts');
    return new ExtractiveChat();
  }
  const openai = required(o.openai, 'openai', 'OPENAI_API_KEY');
  const { OpenAIChat } = await import('./openai/openai-chat.ts');
  return new OpenAIChat({
    apiKey: openai.apiKey,
    ...(openai.baseURL ? { baseURL: openai.baseURL } : {}),
    model: openai.chatModel,
    temperature: openai.temperature,
    maxTokens: openai.maxTokens,
    ...(openai.fallback ? { fallback: openai.fallback } : {}),
  });
}

async function createEmbeddings(o: Resolved): Promise<EmbeddingsPort> {
  if (o.embeddings !== 'openai') {
    const { HashingEmbeddings } = await import('./local/hashing-embeddings.ts');
    return new HashingEmbeddings({ dimensions: o.local.embeddingDimensions });
  }
  const openai = required(o.openai, 'openai', 'OPENAI_API_KEY');
  const { OpenAIEmbeddingsProvider } = await import('./openai/openai-embeddings.ts');
  return new OpenAIEmbeddingsProvider({
    apiKey: openai.apiKey,
    ...(openai.baseURL ? { baseURL: openai.baseURL } : {}),
    model: openai.embeddingModel,
    ...(openai.embeddingDimensions ? { dimensions: openai.embeddingDimensions } : {}),
  });
}

async function createStore(o: Resolved, embeddings: EmbeddingsPort): Promise<VectorStorePort> {
  if (o.vectorStore !== 'pinecone') {
    const { LanceDbVectorStore } = await import('./local/lancedb-store.ts');
    return LanceDbVectorStore.open({
      dir: o.local.storeDir,
      embeddingId: embeddingSpaceId(o, embeddings),
    });
  }
  const pinecone = required(o.pinecone, 'pinecone', 'PINECONE_API_KEY and PINECONE_INDEX');
  const { PineconeVectorStore } = await import('./pinecone/pinecone-store.ts');
  return new PineconeVectorStore({
    apiKey: pinecone.apiKey,
    index: pinecone.index,
    ...(pinecone.host ? { host: pinecone.host } : {}),
    ...(pinecone.controllerHostUrl ? { controllerHostUrl: pinecone.controllerHostUrl } : {}),
  });
}

function required<T>(value: T | undefined, option: string, variables: string): T {
  // loadConfig already refuses this combination; this guards callers that build options by hand.
  if (!value)
    throw new ConfigError([`${option}: required for the selected provider (${variables})`]);
  return value;
}
