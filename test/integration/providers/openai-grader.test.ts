import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';

import { GraderReplyError } from '../../../src/shared/scoring/grader-errors.ts';
import { gradeContextPrecision } from '../../../src/shared/scoring/llm-rag.ts';
import { OpenAIGrader } from '../../../src/worker/providers/openai/openai-grader.ts';
import {
  type ChatRequestBody,
  fakeGrade,
  type FakeOpenAI,
  startFakeOpenAI,
} from '../../support/fake-openai-server.ts';

describe('OpenAIGrader over the real ChatOpenAI client', () => {
  let fake: FakeOpenAI;
  let grader: OpenAIGrader;
  beforeAll(async () => {
    fake = await startFakeOpenAI();
    grader = new OpenAIGrader({ apiKey: 'sk-test', baseURL: fake.url, model: 'grader-model' });
  });
  afterAll(async () => {
    await fake.close();
  });

  const schema = z.object({ score: z.number(), reason: z.string() });

  it('asks for a JSON schema response and returns the parsed reply with its usage', async () => {
    fake.graderReply = fakeGrade;
    const out = await grader.grade({ name: 'judge', instructions: 'grade', input: 'x', schema });
    expect(out.value).toEqual({ score: 7, reason: 'fake grader: meets most of the rubric' });
    expect(out.model).toBe('grader-model');
    expect(out.usage.outputTokens).toBeGreaterThan(0);
    const body = fake.lastRequest('chat')!.body as ChatRequestBody;
    expect(body.model).toBe('grader-model');
    expect(body.temperature).toBe(0);
    expect(body.response_format).toMatchObject({
      type: 'json_schema',
      json_schema: { name: 'judge', schema: { type: 'object', required: ['score', 'reason'] } },
    });
  });

  it('throws GraderReplyError naming the reply when it is not JSON or not the schema', async () => {
    fake.graderReply = () => 'I think it is fine, 8/10';
    const garbage = grader.grade({ name: 'judge', instructions: 'grade', input: 'x', schema });
    await expect(garbage).rejects.toBeInstanceOf(GraderReplyError);
    await expect(garbage).rejects.toThrow(
      /judge: the grader's reply does not match its schema: .*I think/,
    );
    fake.graderReply = () => JSON.stringify({ score: 'high' });
    await expect(
      grader.grade({ name: 'judge', instructions: 'grade', input: 'x', schema }),
    ).rejects.toBeInstanceOf(GraderReplyError);
  });

  it('grades context precision from per-passage verdicts over real HTTP', async () => {
    fake.graderReply = (body, name) =>
      name === 'context_precision'
        ? JSON.stringify({
            verdicts: [
              { passage: 1, useful: false, reason: 'about limits' },
              { passage: 2, useful: true, reason: 'has the backoff' },
            ],
          })
        : fakeGrade(body, name);
    const out = await gradeContextPrecision(grader, {
      question: 'How long are the backoffs?',
      answer: '1, 2, 4, 8 s',
      reference: ['1, 2, 4 and 8 seconds'],
      sources: [
        { id: 'limits.md', chunk: 0, text: 'The limiter caps jobs per second.' },
        { id: 'backoff.md', chunk: 0, text: 'Waits 1, 2, 4 and 8 seconds.' },
      ],
    });
    expect(out).toMatchObject({ score: 0.5, reason: 'useful at rank 2 of 2' });
    const body = fake.lastRequest('chat')!.body as ChatRequestBody;
    const user = body.messages.find((m) => m.role === 'user')!.content as string;
    expect(user).toContain('[2] (backoff.md#0)\nWaits 1, 2, 4 and 8 seconds.');
    expect(user).toContain('Reference answer: 1, 2, 4 and 8 seconds');
  });
});
