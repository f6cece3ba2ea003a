import { describe, expect, it } from 'vitest';

import { parseRetryAfterMs } from '../../src/shared/classify-provider-error.ts';
import { MINUTE, SECOND } from '../../src/shared/time.ts';

const NOW = Date.parse('2025-01-01T00:00:00Z');

describe('parseRetryAfterMs', () => {
  it('is undefined without headers or without a rate-limit header', () => {
    expect(parseRetryAfterMs(undefined)).toBeUndefined();
    expect(parseRetryAfterMs({ 'content-type': 'application/json' })).toBeUndefined();
  });

  it('reads retry-after in seconds, fractional included', () => {
    expect(parseRetryAfterMs({ 'retry-after': '2' })).toBe(2 * SECOND);
    expect(parseRetryAfterMs({ 'Retry-After': '0.5' })).toBe(500);
  });

  it('reads retry-after as an HTTP date relative to now, never negative', () => {
    const in90s = new Date(NOW + 90 * SECOND).toUTCString();
    expect(parseRetryAfterMs({ 'retry-after': in90s }, NOW)).toBe(90 * SECOND);
    const past = new Date(NOW - 10 * SECOND).toUTCString();
    expect(parseRetryAfterMs({ 'retry-after': past }, NOW)).toBe(0);
  });

  it('prefers retry-after-ms over retry-after', () => {
    expect(parseRetryAfterMs({ 'retry-after-ms': '1500', 'retry-after': '9' })).toBe(1500);
  });

  it('parses Go durations in the x-ratelimit-reset headers and takes the larger', () => {
    expect(parseRetryAfterMs({ 'x-ratelimit-reset-requests': '1s' })).toBe(SECOND);
    expect(parseRetryAfterMs({ 'x-ratelimit-reset-tokens': '6m0s' })).toBe(6 * MINUTE);
    expect(parseRetryAfterMs({ 'x-ratelimit-reset-tokens': '20ms' })).toBe(20);
    expect(parseRetryAfterMs({ 'x-ratelimit-reset-requests': '1.5s' })).toBe(1500);
    expect(parseRetryAfterMs({ 'x-ratelimit-reset-requests': '1h2m3s' })).toBe(3_723_000);
    expect(
      parseRetryAfterMs({
        'x-ratelimit-reset-requests': '120ms',
        'x-ratelimit-reset-tokens': '2s',
      }),
    ).toBe(2 * SECOND);
  });

  it('ignores values it cannot read', () => {
    expect(parseRetryAfterMs({ 'retry-after': 'soon' })).toBeUndefined();
    expect(parseRetryAfterMs({ 'x-ratelimit-reset-tokens': '3 parsecs' })).toBeUndefined();
    expect(parseRetryAfterMs({ 'retry-after-ms': '-5' })).toBeUndefined();
  });

  it('reads a fetch Headers object', () => {
    expect(parseRetryAfterMs(new Headers({ 'retry-after': '3' }))).toBe(3 * SECOND);
  });
});
