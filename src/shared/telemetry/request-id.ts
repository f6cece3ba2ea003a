import { context, createContextKey } from '@opentelemetry/api';

/** Span attribute carrying the HTTP request id on a producer span. */
export const REQUEST_ID_ATTRIBUTE = 'askq.request_id';

const REQUEST_ID = createContextKey('askq.request_id');

/**
 * Runs `fn` with `requestId` in the active OpenTelemetry context, so the producer span of a
 * job added inside it carries the request id (see queue-telemetry). Without a registered
 * context manager this simply runs `fn`.
 */
export function withRequestId<T>(requestId: string, fn: () => T): T {
  return context.with(context.active().setValue(REQUEST_ID, requestId), fn);
}

/** The request id of the active context, if any. */
export function activeRequestId(): string | undefined {
  const value = context.active().getValue(REQUEST_ID);
  return typeof value === 'string' ? value : undefined;
}
