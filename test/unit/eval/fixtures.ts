import type { RunManifest } from '../../../src/producer/eval/run-store.ts';
import type { AnswerResult } from '../../../src/shared/contracts.ts';

/** A finished run's manifest with `valid` cases enqueued, for summarize(). */
export function runManifest(valid: number): RunManifest {
  return {
    runId: 'r',
    file: '/tmp/q.jsonl',
    createdAt: new Date(0).toISOString(),
    prefix: 'askq',
    settings: { withWorker: false, strict: false, priority: 100 },
    enqueued: { valid, invalid: 0, complete: true },
    invalidRows: [],
  };
}

/** A worker's result for a case (the embedded default's model), with `over` on top. */
export function answerResult(over: Partial<AnswerResult> = {}): AnswerResult {
  return {
    answer: 'an answer',
    sources: [],
    degraded: false,
    model: 'extractive-v1',
    usage: { inputTokens: 1, outputTokens: 1 },
    timings: { queueMs: 1, retrieveMs: 1, generateMs: 1, totalMs: 3 },
    attempts: 1,
    traceId: '',
    ...over,
  };
}
