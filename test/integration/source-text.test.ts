import { afterEach, describe, expect, it } from 'vitest';

import { answerResultSchema } from '../../src/shared/contracts.ts';
import { seededFakePorts } from '../support/fake-ports.ts';
import { type Harness, startHarness } from '../support/worker-harness.ts';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

// One chunk of ~900 characters whose last sentence is far past the excerpt.
const FILLER = 'BullMQ keeps jobs in Redis and workers take them one by one. '.repeat(14);
const TAIL = 'The zebra protocol renews every lock twice per second.';
const CHUNK = `${FILLER}${TAIL}`;

async function harness(env: Record<string, string>): Promise<Harness> {
  const ports = await seededFakePorts({ 'locks.md': CHUNK });
  h = await startHarness({ ports, env });
  return h;
}

describe('sources[].text: an excerpt by default, the whole chunk on request', () => {
  it('cuts each source to ASKQ_SOURCE_TEXT_CHARS, gives the whole chunk with sourceText "full", and scores on the whole chunk', async () => {
    const h = await harness({ ASKQ_SOURCE_TEXT_CHARS: '120' });
    // Context recall of a reference found only in the chunk's tail: 1 only if scoring saw it.
    const assert = [{ type: 'context-recall' as const, method: 'lexical' as const }];
    const excerpted = await h.client.ask({
      question: 'How are locks renewed?',
      expected: TAIL,
      assert,
    });
    const full = await h.client.ask({ question: 'How are locks renewed?', sourceText: 'full' });
    const a = await h.client.waitForAnswer(excerpted.id, { timeoutMs: 10_000 });
    const b = await h.client.waitForAnswer(full.id, { timeoutMs: 10_000 });

    expect(answerResultSchema.parse(a)).toEqual(a);
    expect(a.sources[0]?.id).toBe('locks.md');
    expect(a.sources[0]?.text).toBe(CHUNK.slice(0, 120));
    expect(a.scores?.['context-recall']).toBe(1);
    expect(b.sources[0]?.text).toBe(CHUNK);
  });

  it('carries an empty string with ASKQ_SOURCE_TEXT_CHARS=0, the contract shape unchanged', async () => {
    const h = await harness({ ASKQ_SOURCE_TEXT_CHARS: '0' });
    const { id } = await h.client.ask({ question: 'How are locks renewed?' });
    const result = await h.client.waitForAnswer(id, { timeoutMs: 10_000 });
    expect(answerResultSchema.parse(result)).toEqual(result);
    expect(result.sources.map((s) => s.text)).toEqual(['']);
    expect(result.sources[0]).toMatchObject({ id: 'locks.md', chunk: 0 });
  });
});

describe('the events stream is capped (ASKQ_EVENTS_MAX_LEN)', () => {
  it('records the cap in the queue meta and trims the stream near it', async () => {
    const h = await harness({ ASKQ_EVENTS_MAX_LEN: '100' });
    const prefix = h.config.ASKQ_PREFIX;
    await h.worker.questions.pause();
    await h.client.askMany(Array.from({ length: 400 }, (_, i) => ({ question: `question ${i}` })));
    expect(await h.redis.hget(`${prefix}:questions:meta`, 'opts.maxLenEvents')).toBe('100');
    // BullMQ trims approximately (whole stream nodes of up to 100 entries): at most one node over.
    expect(await h.redis.xlen(`${prefix}:questions:events`)).toBeLessThanOrEqual(200);
  });
});
