import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';

import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';

import { createLogger, isoTime, logDestination, scrubLogValue } from '../../src/shared/logger.ts';

/** A logger at debug writing into memory, and the lines it wrote, parsed. */
function capture() {
  const stream = new PassThrough();
  const chunks: string[] = [];
  stream.on('data', (d: Buffer) => chunks.push(d.toString()));
  const logger = createLogger({ level: 'debug', destination: stream });
  const raw = () => chunks.join('');
  const lines = () =>
    raw()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { logger, raw, lines };
}

const SECRET = 'sk-canary-logger-5b1e9d';

describe('createLogger', () => {
  it('keeps secrets out of lines wherever they sit: top level, nested, bindings, errors, URLs', () => {
    const { logger, raw, lines } = capture();
    logger.info({ apiKey: SECRET, job_id: '7' }, 'top level');
    logger.info(
      { config: { OPENAI_API_KEY: SECRET, ASKQ_ADMIN_KEYS: SECRET, model: 'm' } },
      'nested',
    );
    logger.info({ req: { headers: { authorization: `Bearer ${SECRET}`, host: 'h' } } }, 'deep');
    logger.info({ list: [{ password: SECRET }], url: `redis://:${SECRET}@db:6379` }, 'array, url');
    logger.child({ job_id: '9', token: SECRET }).child({ attempt: 2 }).info('bindings');
    const authFailed = Object.assign(new Error('WRONGPASS'), {
      command: { name: 'auth', args: ['default', SECRET] },
    });
    logger.error({ err: authFailed }, 'ioredis error');
    logger.warn({ error: authFailed, context: { err: authFailed } }, 'error under other keys');
    logger.error(authFailed);
    expect(raw()).not.toContain(SECRET);

    const [top, nested, deep, arrays, bindings, err, others, bare] = lines();
    expect(top).toMatchObject({ apiKey: '[redacted]', job_id: '7', msg: 'top level' });
    expect(nested?.config).toEqual({
      OPENAI_API_KEY: '[redacted]',
      ASKQ_ADMIN_KEYS: '[redacted]',
      model: 'm',
    });
    expect(deep?.req).toEqual({ headers: { authorization: '[redacted]', host: 'h' } });
    expect(arrays).toMatchObject({
      list: [{ password: '[redacted]' }],
      url: 'redis://[redacted]@db:6379',
    });
    // Both generations of bindings are kept; only the secret one is hidden.
    expect(bindings).toMatchObject({ job_id: '9', token: '[redacted]', attempt: 2 });
    // Errors keep pino's serialized shape.
    expect(err?.err).toMatchObject({
      type: 'Error',
      message: 'WRONGPASS',
      command: { name: 'auth', args: '[redacted]' },
    });
    expect(others?.error).toMatchObject({ type: 'Error', command: { args: '[redacted]' } });
    expect(bare).toMatchObject({ msg: 'WRONGPASS', err: { command: { args: '[redacted]' } } });
  });

  it('keeps URL passwords out of messages, format arguments and objects that serialize themselves', () => {
    const { logger, raw, lines } = capture();
    logger.info(`connecting to redis://:${SECRET}@db:6379`);
    logger.warn('retrying %s in %d ms', `https://user:${SECRET}@api.example/v1`, 50);
    logger.info({ endpoint: new URL(`https://bot:${SECRET}@api.example/v1`) }, 'a URL object');
    // ioredis takes a password with an unencoded slash.
    logger.info({ redis: `redis://:pa/ss-${SECRET}@db:6379/0` }, 'slash in the password');
    expect(raw()).not.toContain(SECRET);
    const [message, formatted, object, slash] = lines();
    expect(message?.msg).toBe('connecting to redis://[redacted]@db:6379');
    expect(formatted?.msg).toBe('retrying https://[redacted]@api.example/v1 in 50 ms');
    expect(object?.endpoint).toBe('https://[redacted]@api.example/v1');
    expect(slash?.redis).toBe('redis://[redacted]@db:6379/0');
  });

  it('scrubs objects given as format arguments, and logs an object whose toJSON throws', () => {
    const { logger, raw, lines } = capture();
    logger.info('connecting %s', new URL(`redis://u:${SECRET}@db:6379`));
    logger.info('options %j', { redis: { password: SECRET } });
    logger.info(
      {
        bad: {
          toJSON() {
            throw new Error('no');
          },
        },
      },
      'still written',
    );
    expect(raw()).not.toContain(SECRET);
    const [url, options, bad] = lines();
    expect(url?.msg).toBe('connecting redis://[redacted]@db:6379');
    expect(options?.msg).toBe('options {"redis":{"password":"[redacted]"}}');
    expect(bad).toMatchObject({ bad: '[unserializable]', msg: 'still written' });
  });

  it('leaves URLs without credentials alone, an @ in their path included', () => {
    const { logger, lines } = capture();
    const url = 'https://registry.npmjs.org/@langchain/core';
    logger.info({ url }, `fetching ${url}`);
    expect(lines()[0]).toMatchObject({ url, msg: `fetching ${url}` });
  });

  it('leaves ordinary fields alone, token counts included', () => {
    const { logger, lines } = capture();
    const fields = {
      timings: { queueMs: 1, totalMs: 2 },
      usage: { inputTokens: 3, outputTokens: 4 },
      keys: ['a'],
      sources: 4,
    };
    logger.info(fields, 'answered');
    expect(lines()[0]).toMatchObject({ ...fields, msg: 'answered', service: 'askq' });
  });
});

describe('isoTime', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it("writes what pino's isoTime writes, across seconds, years and every width of milliseconds", () => {
    const now = vi.spyOn(Date, 'now');
    const base = Date.UTC(2026, 11, 2, 5, 2, 59);
    // In order, as a clock goes (a second reused, then left), then jumps either way.
    const times = [
      ...[0, 7, 9, 10, 99, 100, 999].map((ms) => base + ms),
      base + 1000,
      base + 1001,
      base + 61_234,
      base - 86_400_000 * 400 + 5,
      Date.UTC(1999, 11, 31, 23, 59, 59, 999),
      Date.UTC(2000, 0, 1),
      Date.UTC(12_026, 0, 1, 0, 0, 0, 42),
      0,
    ];
    for (const t of times) {
      now.mockReturnValue(t);
      expect(isoTime()).toBe(pino.stdTimeFunctions.isoTime());
    }
  });

  it("is the time of createLogger's lines", () => {
    const { logger, lines } = capture();
    const t = Date.UTC(2026, 11, 2, 5, 2, 46, 31);
    vi.spyOn(Date, 'now').mockReturnValue(t);
    logger.info('at a known time');
    expect(lines()[0]?.time).toBe(new Date(t).toISOString());
  });
});

describe('scrubLogValue', () => {
  it('returns the very object when there is nothing to hide, a copy otherwise', () => {
    const clean = { a: 1, b: { c: 'x', d: [1, 2] } };
    expect(scrubLogValue(clean)).toBe(clean);
    const dirty = { a: 1, b: { password: 'p' } };
    expect(scrubLogValue(dirty)).toEqual({ a: 1, b: { password: '[redacted]' } });
    expect(dirty.b.password).toBe('p');
  });

  it('ends cycles and very deep nesting without walking them', () => {
    const loop: Record<string, unknown> = { name: 'loop' };
    loop.self = loop;
    const out = JSON.stringify(scrubLogValue(loop));
    expect(out).toContain('[redacted: nested too deep]');
  });

  it('writes every line whole through its destination, bursts and lines longer than a write included', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'askq-log-'));
    try {
      const file = join(dir, 'worker.log');
      const destination = logDestination(file);
      const logger = createLogger({ destination });
      // Lines logged in one tick pile up while a write is in flight; one is longer than a
      // write carries.
      const long = 'x'.repeat(10_000);
      for (let i = 0; i < 2_000; i++) {
        logger.info({ i, note: i === 1_000 ? long : 'padding '.repeat(40) }, 'answered');
      }
      const closed = once(destination, 'close');
      destination.end();
      await closed;
      const lines = (await readFile(file, 'utf8'))
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { i: number; note: string });
      expect(lines.map((l) => l.i)).toEqual(Array.from({ length: 2_000 }, (_, i) => i));
      expect(lines[1_000]!.note).toBe(long);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
