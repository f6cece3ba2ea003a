/**
 * A small bilingual corpus the local-provider tests share: whole paragraphs, as `askq ingest`
 * would store them as chunks, on topics close enough to each other that a sloppy embedding or
 * answerer would confuse them.
 */
export interface CorpusDoc {
  id: string;
  text: string;
}

export const CORPUS = [
  {
    id: 'bullmq-retries.md',
    text:
      'BullMQ retries a failed job according to its attempts and backoff options. ' +
      'With exponential backoff, the delay doubles after every failed attempt, starting from the configured delay. ' +
      'A job that throws an UnrecoverableError fails at once and is not retried. ' +
      'Jobs that exhaust their attempts move to the failed set, where an operator can retry them from Bull Board.',
  },
  {
    id: 'lcel.md',
    text:
      'LangChain Expression Language (LCEL) is a declarative way to compose chains from runnables. ' +
      'Any two runnables can be piped together, e.g. a prompt into a chat model, and the result is again a runnable. ' +
      'Chains built this way support streaming, batching and async calls out of the box.',
  },
  {
    id: 'vector-databases.md',
    text:
      'A vector database stores embeddings and finds the nearest ones to a query vector. ' +
      'Similarity is usually measured with cosine similarity or the dot product. ' +
      'Approximate nearest neighbour indexes such as HNSW trade a little recall for much faster search on millions of vectors.',
  },
  {
    id: 'circuit-breakers.md',
    text:
      'A circuit breaker stops calling a dependency after too many failures. ' +
      'While the breaker is open, calls fail fast instead of waiting for timeouts. ' +
      'After the reset timeout of 30.5 seconds the breaker lets one trial call through, and closes again if it succeeds.',
  },
  {
    id: 'lcel-zh.md',
    text:
      'LCEL（LangChain 表达式语言）是一种声明式地组合链的方法。' +
      '任意两个可运行对象都可以用管道连接起来，结果仍然是一个可运行对象。' +
      '用 LCEL 构建的链天然支持流式输出、批处理和异步调用。',
  },
  {
    id: 'vector-databases-zh.md',
    text:
      '向量数据库用于存储嵌入向量，并找出与查询向量最相近的向量。' +
      '相似度通常用余弦相似度或点积来衡量。' +
      'HNSW 等近似最近邻索引以少量召回率换取更快的检索速度。',
  },
  {
    id: 'bullmq-retries-zh.md',
    text:
      'BullMQ 会根据任务的重试次数和退避策略重试失败的任务。' +
      '使用指数退避时，每次失败后的等待时间都会翻倍。' +
      '抛出 UnrecoverableError 的任务会立即失败，不会再重试。',
  },
] as const satisfies readonly CorpusDoc[];

/** The text of a corpus document by id. */
export function corpusText(id: (typeof CORPUS)[number]['id']): string {
  return CORPUS.find((d) => d.id === id)!.text;
}
