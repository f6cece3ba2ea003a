/**
 * Generates `schemas/answer-job.schema.json` (JSON Schema draft 2020-12) from the zod job
 * contract in src/shared/contracts.ts, so other backends can validate what they enqueue.
 *
 *   node scripts/generate-schema.ts          writes the file (`npm run schema`)
 *   node scripts/generate-schema.ts --check  exits 1 when the checked-in file is stale
 */
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

import { z } from 'zod';

import {
  ANSWER_JOB,
  answerJobDataSchema,
  answerResultSchema,
  QUESTIONS_QUEUE,
} from '../src/shared/contracts.ts';

/** Where the generated schema is checked in. */
export const SCHEMA_PATH = fileURLToPath(
  new URL('../schemas/answer-job.schema.json', import.meta.url),
);

export const SCHEMA_ID = 'urn:askq:schema:answer-job';

/**
 * The schema document: job data at the root (what a producer sends), the job's return value
 * under `$defs.AnswerResult`.
 */
export function buildAnswerJobSchema(): Record<string, unknown> {
  const { $schema, ...data } = z.toJSONSchema(answerJobDataSchema, { target: 'draft-2020-12' });
  const { $schema: _, ...result } = z.toJSONSchema(answerResultSchema, {
    target: 'draft-2020-12',
  });
  return {
    $schema,
    $id: SCHEMA_ID,
    title: 'askq answer job',
    description:
      `Data of a job named '${ANSWER_JOB}' in the BullMQ queue '${QUESTIONS_QUEUE}'. ` +
      'The root schema is the job data a producer sends; unknown fields are rejected by the ' +
      "API (the worker ignores them). $defs.AnswerResult is the job's return value " +
      '(job.returnvalue). Generated from src/shared/contracts.ts by `npm run schema`; do not edit.',
    ...data,
    $defs: {
      AnswerResult: {
        title: 'askq answer result',
        description:
          'Return value of an answer job: the answer, its sources (best first), whether it was ' +
          'degraded (answered without retrieved context), model, token usage, stage timings, ' +
          'attempts taken and the W3C trace id.',
        ...result,
      },
    },
  };
}

/** The file's exact text: 2-space indent and a trailing newline. */
export function renderAnswerJobSchema(): string {
  return `${JSON.stringify(buildAnswerJobSchema(), null, 2)}\n`;
}

async function main(argv: string[]): Promise<number> {
  const text = renderAnswerJobSchema();
  if (argv.includes('--check')) {
    const current = await readFile(SCHEMA_PATH, 'utf8').catch(() => undefined);
    if (current === text) return 0;
    console.error(
      `${SCHEMA_PATH} is ${current === undefined ? 'missing' : 'stale'}; run \`npm run schema\` and commit it.`,
    );
    return 1;
  }
  await writeFile(SCHEMA_PATH, text);
  console.log(`wrote ${SCHEMA_PATH}`);
  return 0;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  process.exitCode = await main(process.argv.slice(2));
}
