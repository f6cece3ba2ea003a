import { describe, expect, it } from 'vitest';

import {
  BreakerOpenError,
  CancelledError,
  PermanentError,
  RateLimitedError,
  TransientError,
} from '../../src/shared/errors.ts';
import {
  type ChatFailureContext,
  chatFallbackReason,
} from '../../src/worker/jobs/chat-fallback.ts';

const ctx = (over: Partial<ChatFailureContext> = {}): ChatFailureContext => ({
  lastAttempt: false,
  retryDelayCeilingMs: 1000,
  blockedMs: 0,
  afterMs: 10_000,
  ...over,
});

describe('chatFallbackReason', () => {
  it('lets a transient failure retry, and degrades it on the last attempt', () => {
    const err = new TransientError('chat failed (HTTP 500)');
    expect(chatFallbackReason(err, ctx())).toBeUndefined();
    expect(chatFallbackReason(err, ctx({ lastAttempt: true }))).toBe('chat_unavailable');
  });

  it('degrades when the deadline passes before the retry or the pause', () => {
    const transient = new TransientError('503');
    expect(chatFallbackReason(transient, ctx({ deadlineLeftMs: 5000 }))).toBeUndefined();
    expect(chatFallbackReason(transient, ctx({ deadlineLeftMs: 900 }))).toBe('chat_deadline');
    const open = new BreakerOpenError('chat', 30_000);
    expect(chatFallbackReason(open, ctx({ deadlineLeftMs: 20_000 }))).toBe('chat_deadline');
    expect(chatFallbackReason(open, ctx({ deadlineLeftMs: 60_000 }))).toBeUndefined();
  });

  it('waits out an open breaker or a rate limit for afterMs, then degrades', () => {
    const open = new BreakerOpenError('chat', 1000);
    expect(chatFallbackReason(open, ctx({ blockedMs: 9_999 }))).toBeUndefined();
    expect(chatFallbackReason(open, ctx({ blockedMs: 10_000 }))).toBe('chat_unavailable');
    const limited = new RateLimitedError('429', { retryAfterMs: 500 });
    expect(chatFallbackReason(limited, ctx({ blockedMs: 10_000 }))).toBe('chat_rate_limited');
    // The attempt budget does not apply to pauses: the last attempt changes nothing here.
    expect(chatFallbackReason(open, ctx({ lastAttempt: true }))).toBeUndefined();
  });

  it('never hides a refused request, nor answers a cancelled job', () => {
    const unauthorized = new PermanentError('chat failed permanently (HTTP 401)', {
      requestFault: true,
    });
    expect(chatFallbackReason(unauthorized, ctx({ lastAttempt: true }))).toBeUndefined();
    expect(chatFallbackReason(new CancelledError('shutdown'), ctx({ lastAttempt: true }))).toBe(
      undefined,
    );
  });

  it('degrades a permanent failure on the provider side', () => {
    const broken = new PermanentError('chat returned no choices');
    expect(chatFallbackReason(broken, ctx())).toBe('chat_unavailable');
  });
});
