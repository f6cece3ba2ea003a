import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { type FakeOpenAI, startFakeOpenAI } from '../../support/fake-openai-server.ts';
import { release, track } from '../../support/resources.ts';

const KEY = 'sk-fake-self-test-0123456789';

/** The fake's own contract, for what the provider tests do not reach (streaming, models, auth). */
describe('fake OpenAI server', () => {
  let fake: FakeOpenAI;
  const post = (path: string, body: unknown, key = KEY) =>
    fetch(`${fake.url}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

  beforeAll(async () => {
    fake = track(await startFakeOpenAI({ apiKey: KEY }), 'fake openai');
  });
  afterAll(async () => {
    await fake.close();
    release(fake);
  });

  it('streams a chat completion as server-sent events ending in [DONE]', async () => {
    const res = await post('/chat/completions', {
      model: 'm',
      stream: true,
      stream_options: { include_usage: true },
      messages: [{ role: 'user', content: 'Context:\n[1] a\nWater is wet. Yes.\n\nQuestion: q' }],
    });
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    const events = (await res.text())
      .split('\n\n')
      .filter(Boolean)
      .map((e) => e.replace(/^data: /, ''));
    expect(events.at(-1)).toBe('[DONE]');
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e));
    const text = chunks.map((c) => c.choices[0]?.delta?.content ?? '').join('');
    expect(text).toBe('Water is wet. [1]');
    expect(chunks.at(-1).usage.completion_tokens).toBe(4);
  });

  it('uses a configured chatReply', async () => {
    fake.chatReply = (body) => `echo ${body.model}`;
    const res = await post('/chat/completions', { model: 'x', messages: [] });
    const body = (await res.json()) as { choices: { message: { content: string } }[] };
    expect(body.choices[0]?.message.content).toBe('echo x');
  });

  it('honours dimensions and float encoding for array input', async () => {
    const res = await post('/embeddings', { model: 'e', input: ['a b', 'c'], dimensions: 8 });
    const body = (await res.json()) as { data: { embedding: number[] }[] };
    expect(body.data).toHaveLength(2);
    expect(body.data[0]?.embedding).toHaveLength(8);
    expect(Math.hypot(...(body.data[0]?.embedding ?? []))).toBeCloseTo(1, 6);
  });

  it('lists models', async () => {
    const res = await fetch(`${fake.url}/models`, { headers: { authorization: `Bearer ${KEY}` } });
    const body = (await res.json()) as { data: { id: string }[] };
    expect(body.data.map((m) => m.id)).toContain('gpt-4o-mini');
  });

  it('rejects a wrong key with 401 in OpenAI shape, the key masked', async () => {
    const wrong = 'sk-wrong-key-0123456789';
    const res = await post('/embeddings', { model: 'e', input: 'x' }, wrong);
    expect(res.status).toBe(401);
    const text = await res.text();
    expect(JSON.parse(text).error.code).toBe('invalid_api_key');
    expect(text).not.toContain(wrong);
  });
});
