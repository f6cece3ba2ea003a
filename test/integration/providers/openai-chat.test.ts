import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { SECOND } from '../../../src/shared/time.ts';
import { NO_CONTEXT, OpenAIChat } from '../../../src/worker/providers/openai/openai-chat.ts';
import { type FakeOpenAI, startFakeOpenAI } from '../../support/fake-openai-server.ts';
import { release, track } from '../../support/resources.ts';

const API_KEY = 'sk-test-chat-0123456789abcdef';

interface ChatBody {
  model: string;
  max_tokens?: number;
  temperature?: number;
  messages: { role: string; content: string }[];
}

describe('OpenAIChat against the fake OpenAI server', () => {
  let fake: FakeOpenAI;
  let chat: OpenAIChat;

  beforeAll(async () => {
    fake = track(await startFakeOpenAI({ apiKey: API_KEY }), 'fake openai');
    chat = new OpenAIChat({ apiKey: API_KEY, baseURL: fake.url, model: 'gpt-4o-mini' });
  });
  afterAll(async () => {
    await fake.close();
    release(fake);
  });
  beforeEach(() => {
    fake.latencyMs = 0;
  });

  it('answers from the numbered context with usage, model and finish reason', async () => {
    const out = await chat.answer({
      question: 'What colour is the sky?',
      context: [
        { docId: 'sky.md', chunk: 0, text: 'The sky is blue. It is also big.', score: 0.9 },
        { docId: 'grass.md', chunk: 3, text: 'Grass is green.', score: 0.5 },
      ],
    });
    expect(out.text).toBe('The sky is blue. [1]');
    expect(out.model).toBe('gpt-4o-mini');
    expect(out.finishReason).toBe('stop');
    expect(out.usage.inputTokens).toBeGreaterThan(10);
    expect(out.usage.outputTokens).toBe(5);

    const request = fake.lastRequest('chat');
    expect(request?.headers.authorization).toBe(`Bearer ${API_KEY}`);
    const body = request?.body as ChatBody;
    expect(body.model).toBe('gpt-4o-mini');
    expect(body.max_tokens).toBe(512);
    expect(body.temperature).toBe(0);
    expect(body.messages.map((m) => m.role)).toEqual(['system', 'user']);
    expect(body.messages[0]?.content).toMatch(/only the numbered context/);
    expect(body.messages[0]?.content).toMatch(/language of the question/);
    const user = body.messages[1]?.content ?? '';
    expect(user).toContain('[1] (source: sky.md#0)\nThe sky is blue.');
    expect(user).toContain('[2] (source: grass.md#3)\nGrass is green.');
    expect(user).toContain('Question: What colour is the sky?');
  });

  it('tells the model when no context was found', async () => {
    const out = await chat.answer({ question: 'Who won in 1998?', context: [] });
    const user = (fake.lastRequest('chat')?.body as ChatBody).messages[1]?.content;
    expect(user).toContain(NO_CONTEXT);
    expect(out.text).toBe("I don't know.");
  });

  it('keeps braces in questions and context literal (no template injection)', async () => {
    await chat.answer({
      question: 'What does {question} mean?',
      context: [{ docId: 'a', chunk: 0, text: 'Use {context} braces.', score: 1 }],
    });
    const user = (fake.lastRequest('chat')?.body as ChatBody).messages[1]?.content;
    expect(user).toContain('Use {context} braces.');
    expect(user).toContain('What does {question} mean?');
  });

  it('reports the model the server says answered', async () => {
    const other = new OpenAIChat({ apiKey: API_KEY, baseURL: fake.url, model: 'llama3.1:8b' });
    const out = await other.answer({ question: 'q?', context: [] });
    expect(out.model).toBe('llama3.1:8b');
  });

  it('makes exactly one HTTP call on a 500 (maxRetries: 0)', async () => {
    const before = fake.calls.chat;
    fake.failNext('chat', { status: 500 });
    await expect(chat.answer({ question: 'q?', context: [] })).rejects.toMatchObject({
      status: 500,
    });
    expect(fake.calls.chat - before).toBe(1);
  });

  it('cancels a hung request promptly when the signal aborts', async () => {
    fake.failNext('chat', { hang: true });
    const controller = new AbortController();
    const arrived = fake.nextRequest('chat');
    const aborted = fake.nextClientAbort();
    const pending = chat.answer({ question: 'q?', context: [] }, controller.signal);
    await arrived;
    const started = performance.now();
    controller.abort();
    await expect(pending).rejects.toThrow();
    await aborted; // the fake saw the connection close
    expect(performance.now() - started).toBeLessThan(2 * SECOND);
  });

  it('a per-call timeout signal ends a slow call', async () => {
    fake.latencyMs = 30 * SECOND;
    const aborted = fake.nextClientAbort();
    await expect(
      chat.answer({ question: 'q?', context: [] }, AbortSignal.timeout(100)),
    ).rejects.toThrow();
    await aborted;
  });
});
