import { type Link, TraceFlags } from '@opentelemetry/api';

import type { BatchOutcome } from '../../shared/batch/batch-lane.ts';
import { SpanKind, tracer } from '../../shared/telemetry/spans.ts';

/** Links one span may carry (OpenTelemetry's default limit). */
export const MAX_LINKS = 128;

/** Span links to the traces of the cases a batch carries (the first {@link MAX_LINKS}). */
export function caseLinks(traces: { traceId: string; spanId: string }[]): Link[] {
  return traces.slice(0, MAX_LINKS).map((t) => ({
    context: { traceId: t.traceId, spanId: t.spanId, traceFlags: TraceFlags.SAMPLED },
  }));
}

/** `gen_ai.*` attributes of a batch of chat requests. */
export function batchAttributes(fields: {
  model: string;
  batchId?: string;
  requests: number;
  serverAddress?: string;
}) {
  return {
    'gen_ai.operation.name': 'chat',
    'gen_ai.provider.name': 'openai',
    'gen_ai.request.model': fields.model,
    'askq.batch.requests': fields.requests,
    ...(fields.batchId ? { 'askq.batch.id': fields.batchId } : {}),
    ...(fields.serverAddress ? { 'server.address': fields.serverAddress } : {}),
  };
}

/**
 * The chat call as the case's own trace shows it: a `chat <model>` span covering the time
 * its batch took, with the batch id and the usage, linked to the visit that wrote the request
 * (whose trace the batch's submit and collect spans link to), so the trace says where the
 * answer came from.
 */
export function recordBatchAnswerSpan(
  outcome: Extract<BatchOutcome, { kind: 'answer' }>,
  collectedAt: number,
  requestedIn: { traceId: string; spanId: string }[],
): void {
  try {
    const span = tracer().startSpan(`chat ${outcome.model}`, {
      kind: SpanKind.CLIENT,
      startTime: collectedAt - outcome.waitedMs,
      links: caseLinks(requestedIn),
      attributes: {
        'gen_ai.operation.name': 'chat',
        'gen_ai.provider.name': 'openai',
        'gen_ai.response.model': outcome.model,
        'gen_ai.usage.input_tokens': outcome.usage.inputTokens,
        'gen_ai.usage.output_tokens': outcome.usage.outputTokens,
        ...(outcome.finishReason
          ? { 'gen_ai.response.finish_reasons': [outcome.finishReason] }
          : {}),
        'askq.batch.id': outcome.batchId,
      },
    });
    span.end(collectedAt);
  } catch {
    // Telemetry never fails the job.
  }
}
