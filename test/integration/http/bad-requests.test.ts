import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startTestApi, TEST_API_KEY, type TestApi } from '../../support/api-server.ts';
import { rawRequest, type RawResponse } from '../../support/raw-http.ts';

/**
 * Every bad request gets a 4xx problem document and enqueues nothing: the table runs through
 * fastify.inject and again over a real socket.
 */

interface Case {
  name: string;
  status: number;
  /** @defaultValue POST /v1/questions */
  path?: string;
  method?: string;
  /** A string or bytes sent as is; anything else is JSON-encoded. */
  body?: unknown;
  /** @defaultValue application/json */
  contentType?: string | null;
  headers?: Record<string, string>;
  /** The detail must match this. */
  detail?: RegExp;
}

const BATCH = '/v1/questions/batch';
const BODY_LIMIT = 64 * 1024;
const longText = (n: number) => 'x'.repeat(n);

const CASES: Case[] = [
  { name: 'truncated JSON', body: '{"question": "What is', status: 400, detail: /not valid JSON/ },
  { name: 'not JSON at all', body: 'question=hello', status: 400, detail: /not valid JSON/ },
  { name: 'empty body', body: '', status: 400, detail: /empty/ },
  { name: 'JSON null', body: 'null', status: 400 },
  { name: 'question null', body: { question: null }, status: 400, detail: /question/ },
  { name: 'question missing', body: { topK: 3 }, status: 400, detail: /question is required/ },
  {
    name: 'question a number',
    body: { question: 42 },
    status: 400,
    detail: /question must be a string/,
  },
  {
    name: 'empty question',
    body: { question: '' },
    status: 400,
    detail: /question must not be empty/,
  },
  {
    name: 'blank question',
    body: { question: ' \n\t ' },
    status: 400,
    detail: /must not be empty/,
  },
  {
    name: 'question of 8001 characters',
    body: { question: longText(8001) },
    status: 400,
    detail: /8000/,
  },
  { name: 'topK a string', body: { question: 'q', topK: '5' }, status: 400, detail: /topK/ },
  { name: 'topK 0', body: { question: 'q', topK: 0 }, status: 400, detail: /topK/ },
  { name: 'topK 51', body: { question: 'q', topK: 51 }, status: 400, detail: /topK/ },
  { name: 'topK 1.5', body: { question: 'q', topK: 1.5 }, status: 400, detail: /topK/ },
  { name: 'topK 1e400', body: '{"question":"q","topK":1e400}', status: 400, detail: /topK/ },
  {
    name: 'namespace empty',
    body: { question: 'q', namespace: '' },
    status: 400,
    detail: /namespace/,
  },
  {
    name: 'unknown field jobId',
    body: { question: 'q', jobId: 'mine' },
    status: 400,
    detail: /jobId/,
  },
  {
    name: 'unknown field attempts',
    body: { question: 'q', attempts: 99 },
    status: 400,
    detail: /attempts/,
  },
  {
    name: 'unknown field priority',
    body: { question: 'q', priority: 1 },
    status: 400,
    detail: /priority/,
  },
  {
    name: 'unknown field model',
    body: { question: 'q', model: 'gpt-5' },
    status: 400,
    detail: /model/,
  },
  { name: 'job options', body: { question: 'q', opts: { delay: 1 } }, status: 400, detail: /opts/ },
  { name: 'contract field not for callers', body: { question: 'q', expected: 'a' }, status: 400 },
  { name: '__proto__ key', body: '{"question":"q","__proto__":{"admin":true}}', status: 400 },
  {
    name: 'nested metadata',
    body: { question: 'q', metadata: { a: { b: 'c' } } },
    status: 400,
    detail: /metadata\.a/,
  },
  {
    name: 'metadata number value',
    body: { question: 'q', metadata: { a: 1 } },
    status: 400,
    detail: /metadata/,
  },
  {
    name: 'metadata an array',
    body: { question: 'q', metadata: ['a'] },
    status: 400,
    detail: /metadata/,
  },
  {
    name: 'metadata with 33 entries',
    body: {
      question: 'q',
      metadata: Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${i}`, 'v'])),
    },
    status: 400,
    detail: /at most 32 entries/,
  },
  {
    name: 'metadata value too long',
    body: { question: 'q', metadata: { a: longText(1025) } },
    status: 400,
  },
  { name: 'array where an object belongs', body: [{ question: 'q' }], status: 400 },
  { name: 'a string where an object belongs', body: '"What is LCEL?"', status: 400 },
  {
    name: 'object where the batch array belongs',
    path: BATCH,
    body: { question: 'q' },
    status: 400,
  },
  { name: 'empty batch', path: BATCH, body: [], status: 400 },
  {
    name: 'batch with one bad item',
    path: BATCH,
    body: [{ question: 'q' }, { question: '' }],
    status: 400,
    detail: /1\.question/,
  },
  { name: 'batch item null', path: BATCH, body: [{ question: 'q' }, null], status: 400 },
  {
    name: 'single body over 256 KiB',
    body: { question: 'q', pad: longText(300 * 1024) },
    status: 413,
  },
  {
    name: 'batch body over ASKQ_BODY_LIMIT_BYTES',
    path: BATCH,
    body: Array.from({ length: 20 }, () => ({ question: longText(4000) })),
    status: 413,
  },
  {
    name: 'text/plain',
    body: '{"question":"q"}',
    contentType: 'text/plain',
    status: 415,
    detail: /JSON only/,
  },
  {
    name: 'form encoded',
    body: 'question=q',
    contentType: 'application/x-www-form-urlencoded',
    status: 415,
  },
  { name: 'no content type', body: '{"question":"q"}', contentType: null, status: 415 },
  {
    name: 'invalid UTF-8',
    body: Buffer.concat([
      Buffer.from('{"question":"caf'),
      Buffer.from([0xc3, 0x28]),
      Buffer.from('"}'),
    ]),
    status: 400,
    detail: /UTF-8/,
  },
  {
    name: 'overlong UTF-8 encoding',
    body: Buffer.from([0x7b, 0x22, 0x71, 0x22, 0x3a, 0x22, 0xc0, 0xaf, 0x22, 0x7d]),
    status: 400,
    detail: /UTF-8/,
  },
  {
    name: 'Idempotency-Key with spaces',
    body: { question: 'q' },
    headers: { 'idempotency-key': 'two words' },
    status: 400,
    detail: /Idempotency-Key/,
  },
  {
    name: 'wait not a number',
    method: 'GET',
    path: '/v1/questions/1?wait=soon',
    status: 400,
    detail: /wait/,
  },
  {
    name: 'wait negative',
    method: 'GET',
    path: '/v1/questions/1?wait=-1',
    status: 400,
    detail: /wait/,
  },
  {
    name: 'unknown query parameter',
    method: 'GET',
    path: '/v1/questions/1?attempts=3',
    status: 400,
  },
  { name: 'unknown route', path: '/v1/jobs', body: { question: 'q' }, status: 404 },
];

function encode(body: unknown): Buffer | undefined {
  if (body === undefined) return undefined;
  if (Buffer.isBuffer(body)) return body;
  return Buffer.from(typeof body === 'string' ? body : JSON.stringify(body), 'utf8');
}

describe('bad requests: 4xx problem documents, nothing enqueued', () => {
  let api: TestApi;
  beforeAll(async () => {
    api = await startTestApi({ ASKQ_BODY_LIMIT_BYTES: String(BODY_LIMIT) });
    await api.listen();
    // One good job first, so "unchanged" is measured against a queue that is not empty.
    const ok = await api.server.app.inject({
      method: 'POST',
      url: '/v1/questions',
      headers: { authorization: `Bearer ${TEST_API_KEY}` },
      payload: { question: 'a good one' },
    });
    expect(ok.statusCode).toBe(202);
  });
  afterAll(async () => {
    await api.close();
  });

  const send = async (transport: 'inject' | 'socket', c: Case): Promise<RawResponse> => {
    const headers: Record<string, string> = {
      authorization: `Bearer ${TEST_API_KEY}`,
      ...(c.contentType === null ? {} : { 'content-type': c.contentType ?? 'application/json' }),
      ...c.headers,
    };
    const method = c.method ?? 'POST';
    const path = c.path ?? '/v1/questions';
    const body = method === 'GET' ? undefined : encode(c.body);
    if (transport === 'socket') return rawRequest(api.url, { method, path, headers, body });
    const res = await api.server.app.inject({
      method: method as 'GET' | 'POST',
      url: path,
      headers,
      ...(body ? { payload: body } : {}),
    });
    return { status: res.statusCode, headers: res.headers, body: res.body };
  };

  for (const transport of ['inject', 'socket'] as const) {
    describe(transport, () => {
      it.each(CASES)('$name → $status', async (c) => {
        const before = await api.jobFootprint();
        const res = await send(transport, c);
        expect(res.status).toBe(c.status);
        expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
        const problem = JSON.parse(res.body) as Record<string, unknown>;
        expect(problem).toMatchObject({
          status: c.status,
          type: expect.stringMatching(/^urn:askq:problem:/),
        });
        expect(problem.detail).toEqual(expect.any(String));
        if (c.detail) expect(problem.detail).toMatch(c.detail);
        expect(await api.jobFootprint()).toEqual(before);
      });
    });
  }
});
