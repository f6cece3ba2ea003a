import type { Source, Usage } from '../../shared/contracts.ts';
import type { Ports } from '../resilience/guarded-ports.ts';
import { generate } from './generate.ts';
import { type Retrieval, retrieve } from './retrieve.ts';

export interface AnswerQuestionInput {
  question: string;
  namespace: string;
  topK: number;
}

/** Outputs of completed stages, persisted between attempts (BullMQ's step-job pattern). */
export interface PipelineCheckpoint {
  retrieval?: Retrieval;
}

export interface PipelineHooks {
  /** Persists a completed stage's output before the next stage runs. */
  checkpoint(checkpoint: PipelineCheckpoint): Promise<void>;
}

export interface PipelineOutput {
  answer: string;
  sources: Source[];
  degraded: boolean;
  model: string;
  usage: Usage;
  retrieveMs: number;
  generateMs: number;
  /** True when retrieval's output came from an earlier attempt. */
  resumed: boolean;
}

/**
 * retrieve → generate, resuming after the last completed stage: a retry after a failed chat
 * call goes straight to generation instead of paying for embedding and search again.
 */
export async function answerQuestion(
  input: AnswerQuestionInput,
  ports: Ports,
  checkpoint: PipelineCheckpoint,
  hooks: PipelineHooks,
): Promise<PipelineOutput> {
  let retrieval = checkpoint.retrieval;
  const resumed = retrieval !== undefined;
  if (retrieval === undefined) {
    retrieval = await retrieve(input, ports);
    await hooks.checkpoint({ ...checkpoint, retrieval });
  }
  const generation = await generate(
    { question: input.question, sources: retrieval.sources },
    ports,
  );
  return {
    answer: generation.answer,
    sources: retrieval.sources,
    degraded: false,
    model: generation.model,
    usage: generation.usage,
    retrieveMs: retrieval.retrieveMs,
    generateMs: generation.generateMs,
    resumed,
  };
}
