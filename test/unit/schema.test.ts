import { readFileSync } from 'node:fs';

import { Validator } from '@cfworker/json-schema';
import { describe, expect, it } from 'vitest';

import {
  buildAnswerJobSchema,
  renderAnswerJobSchema,
  SCHEMA_ID,
  SCHEMA_PATH,
} from '../../scripts/generate-schema.ts';
import { answerResultSchema, MAX_QUESTION_CHARS } from '../../src/shared/contracts.ts';

const checkedIn = readFileSync(SCHEMA_PATH, 'utf8');
const schema = JSON.parse(checkedIn) as Record<string, unknown>;
const jobData = new Validator(schema as never, '2020-12', false);
const answerResult = new Validator(
  { $ref: `${SCHEMA_ID}#/$defs/AnswerResult` } as never,
  '2020-12',
  false,
);
answerResult.addSchema(schema as never);

const fullResult = {
  answer: 'LCEL composes prompts, models and parsers into chains.',
  sources: [{ id: 'lcel.en.md', chunk: 0, score: 0.82, text: 'LCEL is …' }],
  degraded: false,
  model: 'extractive',
  usage: { inputTokens: 120, outputTokens: 14 },
  timings: { queueMs: 3, retrieveMs: 12, generateMs: 40, totalMs: 55 },
  attempts: 1,
  traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
  scores: { contains: 1 },
};

describe('schemas/answer-job.schema.json', () => {
  it('is exactly what the generator produces from the zod contract', () => {
    expect(checkedIn).toBe(renderAnswerJobSchema());
  });

  it('is deterministic', () => {
    expect(renderAnswerJobSchema()).toBe(renderAnswerJobSchema());
    expect(checkedIn.endsWith('}\n')).toBe(true);
    expect(checkedIn).toContain('\n  "$id": ');
  });

  it('is a draft 2020-12 document with an id, a title and the result under $defs', () => {
    expect(schema).toMatchObject({
      $schema: 'https://json-schema.org/draft/2020-12/schema',
      $id: SCHEMA_ID,
      title: 'askq answer job',
      type: 'object',
      required: ['question'],
      additionalProperties: false,
    });
    expect(Object.keys(buildAnswerJobSchema().$defs as object)).toEqual(['AnswerResult']);
  });

  it('accepts minimal and full job data', () => {
    expect(jobData.validate({ question: 'What is LCEL?' }).valid).toBe(true);
    const full = {
      question: '什么是 LCEL？',
      namespace: 'docs',
      topK: 50,
      metadata: { lang: 'zh' },
      expected: ['LCEL', 'LangChain'],
      expectedSources: ['lcel.zh.md'],
    };
    expect(jobData.validate(full).valid).toBe(true);
  });

  it.each([
    ['an unknown field', { question: 'q', priority: 1 }],
    ['a missing question', { namespace: 'docs' }],
    ['an empty question', { question: '' }],
    ['a blank question', { question: ' \n\t ' }],
    ['a question over the cap', { question: 'x'.repeat(MAX_QUESTION_CHARS + 1) }],
    ['topK 0', { question: 'q', topK: 0 }],
    ['topK 51', { question: 'q', topK: 51 }],
    ['a fractional topK', { question: 'q', topK: 1.5 }],
    ['a non-string metadata value', { question: 'q', metadata: { n: 1 } }],
    ['a non-string expected', { question: 'q', expected: 3 }],
  ])('rejects %s', (_label, data) => {
    expect(jobData.validate(data).valid).toBe(false);
  });

  it('allows a question of exactly the cap', () => {
    expect(jobData.validate({ question: 'x'.repeat(MAX_QUESTION_CHARS) }).valid).toBe(true);
  });

  it('describes the return value the zod schema accepts', () => {
    expect(answerResultSchema.safeParse(fullResult).success).toBe(true);
    expect(answerResult.validate(fullResult).valid).toBe(true);
    const { traceId: _, ...withoutTraceId } = fullResult;
    expect(answerResult.validate(withoutTraceId).valid).toBe(false);
    expect(answerResult.validate({ ...fullResult, attempts: 0 }).valid).toBe(false);
  });
});
