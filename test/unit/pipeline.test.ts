import { describe, expect, it } from 'vitest';

import { TransientError } from '../../src/shared/errors.ts';
import { answerQuestion } from '../../src/worker/pipeline/answer-question.ts';
import type { Retrieval } from '../../src/worker/pipeline/retrieve.ts';
import { ExtractiveChat } from '../../src/worker/providers/local/extractive-chat.ts';
import { FakePorts } from '../support/fake-ports.ts';

async function seededPorts(): Promise<FakePorts> {
  const ports = new FakePorts();
  const texts = {
    'redis.md': 'redis keeps data in memory',
    'lance.md': 'lance stores vectors on disk',
  };
  await ports.store.upsert(
    'ns',
    await Promise.all(
      Object.entries(texts).map(async ([docId, text]) => ({
        id: `${docId}#0`,
        docId,
        chunk: 0,
        text,
        values: await ports.embeddings.embedQuery(text),
      })),
    ),
  );
  ports.calls.embed = 0;
  return ports;
}

describe('answerQuestion', () => {
  it('retrieves best first, generates from the sources and checkpoints retrieval', async () => {
    const ports = await seededPorts();
    const saved: Retrieval[] = [];
    const out = await answerQuestion(
      { question: 'where does lance store vectors?', namespace: 'ns', topK: 2 },
      ports,
      { checkpoint: (retrieval) => void saved.push(retrieval) },
    );
    expect(out.sources.map((s) => s.id)).toEqual(['lance.md', 'redis.md']);
    expect(out.sources[0]!.score).toBeGreaterThan(out.sources[1]!.score);
    expect(out.answer).toContain('From lance.md');
    expect(out.resumed).toBe(false);
    expect(saved).toHaveLength(1);
    expect(saved[0]!.sources).toEqual(out.sources);
  });

  it('resumes from a checkpoint without embedding or searching again', async () => {
    const ports = await seededPorts();
    const retrieval = {
      sources: [{ id: 'kept.md', chunk: 3, score: 0.9, text: 'kept text' }],
      retrieveMs: 12,
    };
    const out = await answerQuestion({ question: 'q', namespace: 'ns', topK: 2 }, ports, {
      resume: retrieval,
      checkpoint: () => expect.unreachable('no new checkpoint'),
    });
    expect(ports.calls.embed).toBe(0);
    expect(ports.calls.query).toBe(0);
    expect(out.resumed).toBe(true);
    expect(out.retrieveMs).toBe(12);
    expect(out.answer).toContain('From kept.md');
  });

  it('honours topK and namespace', async () => {
    const ports = await seededPorts();
    const one = await answerQuestion({ question: 'redis', namespace: 'ns', topK: 1 }, ports);
    expect(one.sources).toHaveLength(1);
    const none = await answerQuestion({ question: 'redis', namespace: 'other', topK: 4 }, ports);
    expect(none.sources).toEqual([]);
    expect(none.answer).toBe('no context');
  });

  it('answers with the chat fallback over the retrieved sources when it says so', async () => {
    const ports = await seededPorts();
    ports.failures.chat.push(() => new TransientError('chat failed (HTTP 500)'));
    const fallback = new ExtractiveChat();
    const seen: unknown[] = [];
    const out = await answerQuestion(
      { question: 'where does lance store vectors?', namespace: 'ns', topK: 2 },
      ports,
      {
        chatFallback: {
          chat: fallback,
          reasonFor: (err) => {
            seen.push(err);
            return 'chat_unavailable';
          },
        },
      },
    );
    expect(seen).toHaveLength(1);
    expect(out).toMatchObject({
      degraded: true,
      degradedReason: 'chat_unavailable',
      model: fallback.model,
    });
    expect(out.sources.map((s) => s.id)).toEqual(['lance.md', 'redis.md']);
    expect(out.answer).toContain('lance stores vectors on disk');
  });

  it("checkpoints a model's answer before scoring, never the chat fallback's", async () => {
    const question = 'where does lance store vectors?';
    const scoring = { expected: 'lance' };
    const ports = await seededPorts();
    const kept: string[] = [];
    const run = { checkpointGeneration: (g: { model: string }) => void kept.push(g.model) };
    const answered = await answerQuestion(
      { question, namespace: 'ns', topK: 2, scoring },
      ports,
      run,
    );
    expect(kept).toEqual([answered.model]);

    ports.failures.chat.push(() => new TransientError('chat failed (HTTP 500)'));
    const degraded = await answerQuestion({ question, namespace: 'ns', topK: 2, scoring }, ports, {
      ...run,
      chatFallback: { chat: new ExtractiveChat(), reasonFor: () => 'chat_unavailable' },
    });
    expect(degraded).toMatchObject({ degraded: true, scoring: { scores: { contains: 1 } } });
    // The next attempt asks the model again rather than scoring the fallback's answer.
    expect(kept).toHaveLength(1);
  });

  it('lets the chat failure stand when the fallback gives no reason', async () => {
    const ports = await seededPorts();
    ports.failures.chat.push(() => new TransientError('chat failed (HTTP 500)'));
    await expect(
      answerQuestion({ question: 'q', namespace: 'ns', topK: 2 }, ports, {
        chatFallback: { chat: new ExtractiveChat(), reasonFor: () => undefined },
      }),
    ).rejects.toThrow(/HTTP 500/);
  });
});
