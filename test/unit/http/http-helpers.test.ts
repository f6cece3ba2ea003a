import { describe, expect, it } from 'vitest';

import { mergeFamilies } from '../../../src/producer/http/api-metrics.ts';
import { traceLink } from '../../../src/producer/http/bull-board.ts';
import { keyFingerprint, matchKey, secretsEqual } from '../../../src/producer/http/credentials.ts';
import { idempotentJobId } from '../../../src/producer/http/question-routes.ts';
import { redactJobData } from '../../../src/producer/http/redact-job-data.ts';

describe('credentials', () => {
  it('compares secrets exactly, whatever their lengths', () => {
    expect(secretsEqual('abc', 'abc')).toBe(true);
    expect(secretsEqual('abc', 'abd')).toBe(false);
    expect(secretsEqual('abc', 'abcd')).toBe(false);
    expect(secretsEqual('', 'x')).toBe(false);
    expect(matchKey('k2-key', ['k1-key', 'k2-key'])).toBe('k2-key');
    expect(matchKey('k3-key', ['k1-key', 'k2-key'])).toBeUndefined();
  });

  it('names a key by a fingerprint that does not contain it', () => {
    const key = 'super-secret-key-123456';
    expect(keyFingerprint(key)).toMatch(/^key:[0-9a-f]{16}$/);
    expect(keyFingerprint(key)).toBe(keyFingerprint(key));
    expect(keyFingerprint(key)).not.toBe(keyFingerprint(`${key}x`));
    expect(keyFingerprint(key)).not.toContain('secret');
  });
});

describe('idempotentJobId', () => {
  it('is stable per caller and key, differs across callers, and is a valid BullMQ id', () => {
    const a = idempotentJobId('key:aaaa', 'order-1');
    expect(idempotentJobId('key:aaaa', 'order-1')).toBe(a);
    expect(idempotentJobId('key:bbbb', 'order-1')).not.toBe(a);
    expect(idempotentJobId('key:aaaa', 'order-2')).not.toBe(a);
    expect(a).toMatch(/^idem-[\w-]{32}$/);
  });
});

describe('redactJobData', () => {
  it('hides secret-looking keys anywhere and URL credentials in strings, leaving the rest', () => {
    const data = {
      question: 'What is LCEL?',
      metadata: { apiKey: 'k', api_key: 'k', Authorization: 'Bearer x', team: 'search' },
      nested: [{ password: 'p', link: 'https://user:pw@example.com/x and redis://:pw2@h:1' }],
      topK: 3,
    };
    expect(redactJobData(data)).toEqual({
      question: 'What is LCEL?',
      metadata: {
        apiKey: '[redacted]',
        api_key: '[redacted]',
        Authorization: '[redacted]',
        team: 'search',
      },
      nested: [
        {
          password: '[redacted]',
          link: 'https://[redacted]@example.com/x and redis://[redacted]@h:1',
        },
      ],
      topK: 3,
    });
    expect(data.metadata.apiKey).toBe('k');
    // Words that merely contain a secret word stay visible (the answer's token usage).
    const usage = { usage: { inputTokens: 3, outputTokens: 4 }, tokenCount: 1, keys: ['a'] };
    expect(redactJobData(usage)).toEqual(usage);
    expect(
      redactJobData({ accessToken: 'x', clientSecret: 'y', private_key: 'z', apikey: 'w' }),
    ).toEqual({
      accessToken: '[redacted]',
      clientSecret: '[redacted]',
      private_key: '[redacted]',
      apikey: '[redacted]',
    });
    expect(redactJobData(null)).toBeNull();
  });
});

describe('traceLink', () => {
  it('links a 32-hex trace id to Jaeger and nothing else', () => {
    const id = '4bf92f3577b34da6a3ce929d0e0e4736';
    expect(traceLink('http://jaeger:16686/', { returnvalue: { traceId: id } })).toEqual({
      displayText: 'Trace',
      href: `http://jaeger:16686/trace/${id}`,
    });
    expect(traceLink('http://j', { returnvalue: { traceId: '' } })).toBeUndefined();
    expect(traceLink('http://j', { returnvalue: null })).toBeUndefined();
    expect(traceLink('http://j', { returnvalue: { traceId: '../../admin' } })).toBeUndefined();
  });
});

describe('mergeFamilies', () => {
  it('keeps one HELP and TYPE per family and groups its samples', () => {
    const q = (name: string) =>
      [
        '# HELP m_count Count',
        '# TYPE m_count gauge',
        `m_count{queue="${name}"} 1`,
        '# HELP m_total Total',
        '# TYPE m_total counter',
        `m_total{queue="${name}"} 2`,
      ].join('\n');
    expect(mergeFamilies([q('a'), q('b')]).split('\n')).toEqual([
      '# HELP m_count Count',
      '# TYPE m_count gauge',
      'm_count{queue="a"} 1',
      'm_count{queue="b"} 1',
      '# HELP m_total Total',
      '# TYPE m_total counter',
      'm_total{queue="a"} 2',
      'm_total{queue="b"} 2',
    ]);
  });
});
