import { NodeSDK } from '@opentelemetry/sdk-node';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { REQUEST_ID_ATTRIBUTE } from '../../../src/shared/telemetry/request-id.ts';
import { startTestApi, TEST_API_KEY, type TestApi } from '../../support/api-server.ts';

/** The request id reaches the producer span of the job the request enqueued. */
describe('X-Request-Id on the producer span', () => {
  const exporter = new InMemorySpanExporter();
  const sdk = new NodeSDK({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  let api: TestApi;
  beforeAll(async () => {
    sdk.start();
    api = await startTestApi();
  });
  afterAll(async () => {
    await api.close();
    await sdk.shutdown();
  });

  it('is an attribute of the add span of each question, single or batch', async () => {
    const post = (url: string, requestId: string, payload: unknown) =>
      api.server.app.inject({
        method: 'POST',
        url,
        headers: { authorization: `Bearer ${TEST_API_KEY}`, 'x-request-id': requestId },
        payload: payload as object,
      });
    const one = await post('/v1/questions', 'backend-req-1', { question: 'traced?' });
    const many = await post('/v1/questions/batch', 'backend-req-2', [{ question: 'a' }]);
    expect([one.statusCode, many.statusCode]).toEqual([202, 202]);

    const producerSpans = exporter
      .getFinishedSpans()
      .filter((s) => s.attributes['messaging.operation.type'] === 'send');
    const ids = producerSpans.map((s) => s.attributes[REQUEST_ID_ATTRIBUTE]);
    expect(ids).toEqual(expect.arrayContaining(['backend-req-1', 'backend-req-2']));
    // The attribute names the request, not the key.
    for (const span of producerSpans) {
      expect(JSON.stringify(span.attributes)).not.toContain(TEST_API_KEY);
    }
  });
});
