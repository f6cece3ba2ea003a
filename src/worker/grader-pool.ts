import { PermanentError } from '../shared/errors.ts';
import type { GraderPort } from '../shared/ports.ts';
import { assertAllowedModel } from './allowed-models.ts';
import { createGrader } from './providers/create-providers.ts';

/**
 * The grader ports of a worker: the configured one (ASKQ_GRADER_MODEL, or the one a test
 * hands in), and one per other allowed model a job names (`askq eval run --grader`), built on
 * first use on the grader's server with its key, then reused.
 */
export class GraderPool {
  readonly #byModel = new Map<string, Promise<GraderPort>>();
  readonly #allowed: ReadonlySet<string>;
  readonly #configured: GraderPort | undefined;
  readonly #server: { apiKey: string; baseURL?: string } | undefined;

  constructor(
    configured: GraderPort | undefined,
    server: { apiKey: string; baseURL?: string } | undefined,
    allowed: ReadonlySet<string>,
  ) {
    this.#configured = configured;
    this.#server = server;
    this.#allowed = allowed;
  }

  /** The grader for a job naming `model` (or none: the configured grader, if any). */
  async forJob(model: string | undefined): Promise<GraderPort | undefined> {
    if (model === undefined || model === this.#configured?.model) return this.#configured;
    assertAllowedModel(this.#allowed, model, 'grader');
    const server = this.#server;
    if (!server) {
      throw new PermanentError(
        `grader model "${model}" needs ASKQ_GRADER_API_KEY or OPENAI_API_KEY on the worker`,
      );
    }
    let grader = this.#byModel.get(model);
    if (!grader) {
      grader = createGrader(server, model);
      this.#byModel.set(model, grader);
      grader.catch(() => this.#byModel.delete(model));
    }
    return grader;
  }
}
