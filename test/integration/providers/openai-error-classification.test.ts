import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { classifyProviderError } from '../../../src/shared/classify-provider-error.ts';
import {
  type AskqError,
  PermanentError,
  RateLimitedError,
  TransientError,
} from '../../../src/shared/errors.ts';
import { OpenAIChat } from '../../../src/worker/providers/openai/openai-chat.ts';
import { OpenAIEmbeddingsProvider } from '../../../src/worker/providers/openai/openai-embeddings.ts';
import {
  type FakeOpenAI,
  type ScriptedBehaviour,
  startFakeOpenAI,
} from '../../support/fake-openai-server.ts';
import { release, track } from '../../support/resources.ts';

const API_KEY = 'sk-test-classify-0123456789abcdefghij';

/**
 * Every classification rule through a real HTTP response from the fake, so the errors are
 * exactly what the installed SDK and LangChain produce (their wrapping included).
 */
describe('provider errors from real HTTP responses', () => {
  let fake: FakeOpenAI;
  let chat: OpenAIChat;
  let embeddings: OpenAIEmbeddingsProvider;

  beforeAll(async () => {
    fake = track(await startFakeOpenAI(), 'fake openai');
    chat = new OpenAIChat({ apiKey: API_KEY, baseURL: fake.url, model: 'gpt-4o-mini' });
    embeddings = new OpenAIEmbeddingsProvider({
      apiKey: API_KEY,
      baseURL: fake.url,
      model: 'text-embedding-3-small',
    });
  });
  afterAll(async () => {
    await fake.close();
    release(fake);
  });

  async function chatFailure(behaviour: ScriptedBehaviour, signal?: AbortSignal) {
    fake.failNext('chat', behaviour);
    const err = await chat.answer({ question: 'q?', context: [] }, signal).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err, 'the call should have failed').toBeDefined();
    return classifyProviderError(err, 'chat');
  }

  async function embeddingsFailure(behaviour: ScriptedBehaviour) {
    fake.failNext('embeddings', behaviour);
    const err = await embeddings.embedQuery('x').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err, 'the call should have failed').toBeDefined();
    return classifyProviderError(err, 'embeddings');
  }

  it.each([
    [500, TransientError],
    [503, TransientError],
    [400, PermanentError],
    [401, PermanentError],
    [403, PermanentError],
    [404, PermanentError],
    [422, PermanentError],
  ] as const)('chat %i → %o', async (status, kind) => {
    const err = await chatFailure({ status });
    expect(err).toBeInstanceOf(kind);
    expect(err.message).toContain(`HTTP ${status}`);
    expect(err.message).toMatch(/^chat /);
  });

  it.each([
    [500, TransientError],
    [401, PermanentError],
    [400, PermanentError],
  ] as const)('embeddings %i → %o', async (status, kind) => {
    const err = await embeddingsFailure({ status });
    expect(err).toBeInstanceOf(kind);
    expect(err.message).toContain(`HTTP ${status}`);
  });

  it('429 with retry-after is rate limited for that long', async () => {
    const err = await chatFailure({ status: 429, headers: { 'retry-after': '2' } });
    expect(err).toBeInstanceOf(RateLimitedError);
    expect((err as RateLimitedError).retryAfterMs).toBe(2000);
  });

  it('429 with x-ratelimit-reset headers waits for the later reset', async () => {
    const err = await embeddingsFailure({
      status: 429,
      headers: { 'x-ratelimit-reset-requests': '1s', 'x-ratelimit-reset-tokens': '6m0s' },
    });
    expect(err).toBeInstanceOf(RateLimitedError);
    expect((err as RateLimitedError).retryAfterMs).toBe(360_000);
  });

  it('429 insufficient_quota is permanent', async () => {
    const quota = {
      status: 429,
      body: {
        error: {
          code: 'insufficient_quota',
          type: 'insufficient_quota',
          message: 'You exceeded your current quota, please check your plan and billing details.',
        },
      },
    };
    expect(await chatFailure(quota)).toBeInstanceOf(PermanentError);
    expect(await embeddingsFailure(quota)).toBeInstanceOf(PermanentError);
  });

  it('a dropped connection is transient', async () => {
    expect(await chatFailure({ dropConnection: true })).toBeInstanceOf(TransientError);
    expect(await embeddingsFailure({ dropConnection: true })).toBeInstanceOf(TransientError);
  });

  it('a per-call timeout is transient', async () => {
    const err = await chatFailure({ hang: true }, AbortSignal.timeout(100));
    expect(err).toBeInstanceOf(TransientError);
  });

  it('a refused connection is transient', async () => {
    const closed = await startFakeOpenAI();
    const url = closed.url;
    await closed.close();
    const orphan = new OpenAIChat({ apiKey: API_KEY, baseURL: url, model: 'gpt-4o-mini' });
    const err = await orphan.answer({ question: 'q?', context: [] }).catch((e: unknown) => e);
    const classified = classifyProviderError(err, 'chat');
    expect(classified).toBeInstanceOf(TransientError);
  });

  it('a 401 never carries the key, anywhere in the error chain', async () => {
    // The fake masks the key in its message as OpenAI does; our error must not add it back.
    const classified = await chatFailure({ status: 401 });
    expect(classified).toBeInstanceOf(PermanentError);
    expect(chainText(classified)).toContain(`sk-${'*'.repeat(12)}${API_KEY.slice(-4)}`);
    expect(chainText(classified)).not.toContain(API_KEY);
    // A provider that echoes the raw key is redacted in the message we create.
    const echoed = await chatFailure({
      status: 401,
      body: { error: { message: `Incorrect API key provided: ${API_KEY}`, type: 'x', code: null } },
    });
    expect(echoed.message).not.toContain(API_KEY);
    expect(echoed.message).toContain('[redacted]');
  });
});

/** Every message, stack and own enumerable property along the cause chain. */
function chainText(err: AskqError): string {
  const parts: string[] = [];
  let current: unknown = err;
  for (let i = 0; i < 10 && current instanceof Error; i += 1) {
    parts.push(current.message, current.stack ?? '', JSON.stringify(current));
    current = current.cause;
  }
  return parts.join('\n');
}
