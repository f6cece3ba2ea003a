import type { DegradedReason, Source, Usage } from '../../shared/contracts.ts';
import { failureClassOf } from '../../shared/errors.ts';
import type { ChatPort, ChatSettings, Ports } from '../../shared/ports.ts';
import { generate, type Generation } from './generate.ts';
import { type Retrieval, retrieve } from './retrieve.ts';
import { score, type ScoreInput, type Scoring } from './score.ts';

export interface AnswerQuestionInput {
  question: string;
  namespace: string;
  topK: number;
  /** Chat settings of an evaluation variant. @defaultValue the configured ones */
  chatSettings?: ChatSettings;
  /** What the `score` stage scores against; it runs only when one of these is set. */
  scoring?: Pick<ScoreInput, 'expected' | 'expectedSources' | 'assert'>;
}

/** How this run of the pipeline starts and what it reports. */
export interface AnswerRun {
  /** Retrieval an earlier attempt completed: generation runs on its sources. */
  resume?: Retrieval;
  /** The answer an earlier attempt generated (its scoring failed): only scoring runs. */
  resumeGeneration?: Generation;
  /** An answer to reuse (an answer cache hit): only scoring runs. */
  cached?: { retrieval: Retrieval; generation: Generation };
  /** Keeps retrieval's output for the next attempt, before generation runs. */
  checkpoint?(retrieval: Retrieval): void;
  /** Keeps the answer for the next attempt, before scoring runs. */
  checkpointGeneration?(generation: Generation): void;
  /** Called when retrieval failed and the answer goes on without context. */
  onDegraded?(err: unknown): void;
  /** What to do when retrieval fails. @defaultValue retry */
  fallback?: RetrievalFallback;
  /** What to do when the chat call fails. @defaultValue the failure stands */
  chatFallback?: ChatFallback;
}

/** The answerer of last resort, and when to use it. */
export interface ChatFallback {
  /** Answers from the retrieved sources without a remote model (the extractive answerer). */
  chat: ChatPort;
  /**
   * Why the failed chat call should be answered by `chat` instead, or undefined to let the
   * failure stand. May throw instead (a job that opted out says it would have degraded).
   */
  reasonFor(err: unknown): DegradedReason | undefined;
}

/** What to do when retrieval fails with a retryable error. */
export interface RetrievalFallback {
  /** `degrade`: answer without context instead of failing the attempt. @defaultValue retry */
  mode: 'retry' | 'degrade';
  /** True on the job's last attempt: retrieval's retries are spent. */
  lastAttempt: boolean;
}

export interface PipelineOutput {
  answer: string;
  sources: Source[];
  degraded: boolean;
  /** Why, when degraded. */
  degradedReason?: DegradedReason;
  model: string;
  usage: Usage;
  retrieveMs: number;
  generateMs: number;
  /** True when retrieval's output came from an earlier attempt. */
  resumed: boolean;
  /** The `score` stage's output, when the job had expectations. */
  scoring?: Scoring;
}

/**
 * retrieve → generate → score, resuming after the last completed stage: a retry after a
 * failed chat call goes straight to generation instead of paying for embedding and search
 * again, and one after a failed grader call only scores again.
 */
export async function answerQuestion(
  input: AnswerQuestionInput,
  ports: Ports,
  run: AnswerRun = {},
): Promise<PipelineOutput> {
  const fallback = run.fallback ?? { mode: 'retry', lastAttempt: false };
  let retrieval = run.cached?.retrieval ?? run.resume;
  const resumed = retrieval !== undefined;
  let degraded = false;
  if (retrieval === undefined) {
    const started = performance.now();
    try {
      retrieval = await retrieve(input, ports);
      run.checkpoint?.(retrieval);
    } catch (err) {
      if (!shouldDegrade(err, fallback)) throw err;
      // Not checkpointed: the next attempt (if any) tries retrieval again.
      run.onDegraded?.(err);
      degraded = true;
      retrieval = { sources: [], retrieveMs: performance.now() - started };
    }
  }
  let degradedReason: DegradedReason | undefined = degraded ? 'retrieval_unavailable' : undefined;
  const sources = retrieval.sources;
  let generation = run.cached?.generation ?? (resumed ? run.resumeGeneration : undefined);
  if (generation === undefined) {
    try {
      generation = await generate(
        { question: input.question, sources, settings: input.chatSettings },
        ports,
      );
    } catch (err) {
      const reason = run.chatFallback?.reasonFor(err);
      if (reason === undefined || run.chatFallback === undefined) throw err;
      // The extractive answerer has no model, temperature or prompt to vary.
      generation = await generate(
        { question: input.question, sources },
        { chat: run.chatFallback.chat },
      );
      degraded = true;
      // With retrieval down too, the chat's reason is the one that says no model answered.
      degradedReason = reason;
    }
    // Only worth keeping when a scoring call may fail after it; a degraded answer is not kept,
    // so the next attempt asks the model again.
    if (input.scoring && !degraded) run.checkpointGeneration?.(generation);
  }
  const scoring = input.scoring
    ? await score(
        {
          ...input.scoring,
          question: input.question,
          answer: generation.answer,
          sources: retrieval.sources,
        },
        ports,
      )
    : undefined;
  return {
    ...(scoring ? { scoring } : {}),
    answer: generation.answer,
    sources: retrieval.sources,
    degraded,
    ...(degradedReason ? { degradedReason } : {}),
    model: generation.model,
    usage: generation.usage,
    retrieveMs: retrieval.retrieveMs,
    generateMs: generation.generateMs,
    resumed,
  };
}

/**
 * Degrade only when retrieval is down, not when it is wrong: an open breaker at once (retrying
 * now cannot help), other retryable failures once the job's retries are spent; permanent
 * errors (a bad key, a missing index) still fail the job.
 */
function shouldDegrade(err: unknown, fallback: RetrievalFallback): boolean {
  if (fallback.mode !== 'degrade') return false;
  const kind = failureClassOf(err) ?? 'transient';
  if (kind === 'permanent') return false;
  return kind === 'breaker_open' || fallback.lastAttempt;
}
