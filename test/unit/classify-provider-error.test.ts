import { Errors } from '@pinecone-database/pinecone';
import { describe, expect, it } from 'vitest';

import { classifyProviderError, redactSecrets } from '../../src/shared/classify-provider-error.ts';
import {
  PermanentError,
  RateLimitedError,
  TransientError,
  ValidationError,
} from '../../src/shared/errors.ts';

/** An error shaped like an SDK's HTTP error. */
function httpError(status: number, extra: Record<string, unknown> = {}): Error {
  return Object.assign(new Error(`${status} upstream said no`), { status, ...extra });
}

function systemError(code: string): Error {
  return Object.assign(new Error(`connect ${code} 127.0.0.1:1`), { code, errno: -111 });
}

describe('classifyProviderError', () => {
  it('passes already classified errors through unchanged', () => {
    const err = new ValidationError('bad job');
    expect(classifyProviderError(err, 'chat')).toBe(err);
  });

  it.each([400, 401, 403, 404, 422])('%i is permanent', (status) => {
    const original = httpError(status);
    const err = classifyProviderError(original, 'chat');
    expect(err).toBeInstanceOf(PermanentError);
    expect(err.message).toContain('chat');
    expect(err.message).toContain(`HTTP ${status}`);
    expect(err.cause).toBe(original);
  });

  it.each([408, 409, 500, 502, 503, 504])('%i is transient', (status) => {
    expect(classifyProviderError(httpError(status), 'embeddings')).toBeInstanceOf(TransientError);
  });

  it('429 is rate limited with the wait its headers ask for', () => {
    const err = classifyProviderError(
      httpError(429, { headers: new Headers({ 'retry-after': '7' }) }),
      'chat',
    );
    expect(err).toBeInstanceOf(RateLimitedError);
    expect((err as RateLimitedError).retryAfterMs).toBe(7000);
  });

  it('insufficient_quota is permanent even on a 429, by code or by type', () => {
    const byCode = httpError(429, { code: 'insufficient_quota' });
    const byType = httpError(429, { error: { type: 'insufficient_quota' } });
    expect(classifyProviderError(byCode, 'chat')).toBeInstanceOf(PermanentError);
    expect(classifyProviderError(byType, 'chat')).toBeInstanceOf(PermanentError);
  });

  it('content-filter refusals are permanent', () => {
    const azure = httpError(400, { code: 'content_filter' });
    const parse = Object.assign(new Error('rejected by the content filter'), {
      name: 'ContentFilterFinishReasonError',
    });
    expect(classifyProviderError(azure, 'chat')).toBeInstanceOf(PermanentError);
    expect(classifyProviderError(parse, 'chat')).toBeInstanceOf(PermanentError);
  });

  it.each(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE'])('%s is transient', (code) => {
    const err = classifyProviderError(systemError(code), 'pinecone');
    expect(err).toBeInstanceOf(TransientError);
    expect(err.message).toContain(code);
  });

  it('looks through cause chains (fetch failed → ECONNREFUSED)', () => {
    const err = new TypeError('fetch failed', { cause: systemError('ECONNREFUSED') });
    expect(classifyProviderError(err, 'chat').message).toContain('ECONNREFUSED');
    const wrapped = new Error('outer', { cause: httpError(401) });
    expect(classifyProviderError(wrapped, 'chat')).toBeInstanceOf(PermanentError);
  });

  it('aborts and per-call timeouts are transient', () => {
    const timeout = new DOMException('The operation was aborted due to timeout', 'TimeoutError');
    const abort = new DOMException('This operation was aborted', 'AbortError');
    expect(classifyProviderError(timeout, 'chat')).toBeInstanceOf(TransientError);
    expect(classifyProviderError(abort, 'chat')).toBeInstanceOf(TransientError);
  });

  it('maps the Pinecone SDK error classes', () => {
    const info = { status: 0, url: 'https://idx.example/query', message: 'nope' };
    const permanent = [
      new Errors.PineconeBadRequestError(info),
      new Errors.PineconeAuthorizationError(info),
      new Errors.PineconeNotFoundError(info),
      new Errors.PineconeUnprocessableEntityError(info),
      new Errors.PineconePaymentRequiredError(info),
    ];
    const transient = [
      new Errors.PineconeInternalServerError(info),
      new Errors.PineconeUnavailableError(info),
      new Errors.PineconeConnectionError(new Error('socket')),
      new Errors.PineconeMaxRetriesExceededError(0),
    ];
    for (const e of permanent)
      expect(classifyProviderError(e, 'pinecone')).toBeInstanceOf(PermanentError);
    for (const e of transient)
      expect(classifyProviderError(e, 'pinecone')).toBeInstanceOf(TransientError);
    const tooMany = new Errors.PineconeUnmappedHttpError({ ...info, status: 429 });
    expect(classifyProviderError(tooMany, 'pinecone')).toBeInstanceOf(RateLimitedError);
  });

  it('maps LanceDB failures by message', () => {
    const missing = new Error("Table 'chunks' was not found");
    const schema = new Error('LanceError(Schema): field vector has dimension 64, expected 1024');
    const conflict = new Error('Retryable commit conflict for version 12');
    const io = new Error('LanceError(IO): Generic LocalFileSystem error');
    expect(classifyProviderError(missing, 'lancedb')).toBeInstanceOf(PermanentError);
    expect(classifyProviderError(schema, 'lancedb')).toBeInstanceOf(PermanentError);
    expect(classifyProviderError(conflict, 'lancedb')).toBeInstanceOf(TransientError);
    expect(classifyProviderError(io, 'lancedb')).toBeInstanceOf(TransientError);
  });

  it('treats anything unknown as transient, strings and plain objects included', () => {
    expect(classifyProviderError(new Error('weird'), 'chat')).toBeInstanceOf(TransientError);
    expect(classifyProviderError('boom', 'chat').message).toContain('boom');
    expect(classifyProviderError({ what: 1 }, 'chat')).toBeInstanceOf(TransientError);
  });

  it('never repeats a key a provider echoed', () => {
    const key = 'sk-proj-abcdefghijklmnopqrstuvwxyz0123456789';
    const err = httpError(401, { message: `Incorrect API key provided: ${key}` });
    err.message = `401 Incorrect API key provided: ${key}`;
    const classified = classifyProviderError(err, 'chat');
    expect(classified).toBeInstanceOf(PermanentError);
    expect(classified.message).not.toContain(key);
    expect(classified.message).toContain('[redacted]');
  });
});

describe('redactSecrets', () => {
  it('redacts key-like tokens and bearer values, keeps ordinary text', () => {
    expect(redactSecrets('key pcsk_1234567890abcdef was rejected')).toBe(
      'key [redacted] was rejected',
    );
    expect(redactSecrets('Authorization: Bearer abc.def')).toBe('Authorization: Bearer [redacted]');
    expect(redactSecrets('model gpt-4o-mini not found')).toBe('model gpt-4o-mini not found');
  });
});
