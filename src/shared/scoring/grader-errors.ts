import { PermanentError } from '../errors.ts';

/** The reason a case errors when it needs a grader model and the worker has none. */
export const NO_GRADER_REASON = 'judge needs a grader model (ASKQ_GRADER_MODEL)';

/**
 * A case asks for a grader (`judge`, or a RAG metric with `method: "llm"`) and the worker has
 * none: permanent, since retrying cannot configure one. Its case ends errored, never failed.
 */
export class GraderMissingError extends PermanentError {
  override name = 'GraderMissingError';
}

/**
 * The grader's reply does not match the schema it was asked for. Permanent: the same prompt
 * to the same model at temperature 0 would most likely reply the same way.
 */
export class GraderReplyError extends PermanentError {
  override name = 'GraderReplyError';
}
