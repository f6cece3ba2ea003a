/**
 * The evaluation's public surface: what the CLI (and an embedding backend) may use. The
 * modules behind it (reading cases, the flow, the follower, the store's layout) are internal.
 */
export { assertCanBatch } from './batch/batch-capability.ts';
export type { CancelledBatch } from './batch/cancel-batches.ts';
export { cancelRun, type RunCancellation } from './cancel-run.ts';
export type { CaseResult, CaseStatus } from './case-result.ts';
export {
  type CaseOutcome,
  type ComparedRun,
  type CompareOptions,
  compareRuns,
  QUESTION_CHARS,
  type Regression,
  type RunComparison,
} from './compare-runs.ts';
export { readRunCounts } from './eval-flow.ts';
export {
  type EvalOutcome,
  type EvalProgress,
  type EvalRunOptions,
  rebuildReport,
  runEval,
} from './eval-runner.ts';
export { formatComparison, renderComparisonHtml } from './format-comparison.ts';
export {
  latestResults,
  locateRun,
  readManifest,
  readResults,
  type Reproducibility,
  RESULTS_FILE,
  runDir,
  type RunManifest,
} from './run-store.ts';
export { isReportedOnly, type RunSummary, summarize, type VariantSummary } from './summarize.ts';
export { addVariant, type NamedVariant } from './variants.ts';
export { writeJunit } from './write-junit.ts';
