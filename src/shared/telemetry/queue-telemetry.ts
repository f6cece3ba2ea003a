import type { Attributes, AttributeValue, Span, Telemetry, Time } from 'bullmq';
import { BullMQOtel } from 'bullmq-otel';

import { activeRequestId, REQUEST_ID_ATTRIBUTE } from './request-id.ts';

/** OTel messaging attributes (semantic conventions) that bullmq-otel's spans lack. */
export const MESSAGING = {
  system: 'messaging.system',
  destination: 'messaging.destination.name',
  messageId: 'messaging.message.id',
  operationName: 'messaging.operation.name',
  operationType: 'messaging.operation.type',
} as const;

const OPERATION_TYPES: Record<string, string> = {
  add: 'send',
  addBulk: 'send',
  process: 'process',
  retryJobs: 'send',
};

export interface QueueTelemetryOptions {
  /** Keep job results (answer text) in span events. @defaultValue false */
  captureContent?: boolean;
}

/**
 * The official bullmq-otel telemetry for Queue, Worker and FlowProducer, with the OTel
 * messaging attributes added to every queue span and BullMQ's `job completed` event stripped
 * of the job's result (the answer text) unless content capture is on.
 */
export function createQueueTelemetry(options: QueueTelemetryOptions = {}): Telemetry {
  const otel = new BullMQOtel({ tracerName: 'askq-bullmq' });
  return {
    contextManager: otel.contextManager,
    tracer: {
      startSpan(name, spanOptions, context) {
        // BullMQ's housekeeping (a `getNextJob` span per fetch, stalled checks, close) would
        // double the spans of every job and bury the ones users look for: not recorded.
        if (isHousekeeping(name)) return UNRECORDED;
        const span = otel.tracer.startSpan(name, spanOptions, context);
        return new MessagingSpan(span, name, options.captureContent ?? false);
      },
    },
    ...(otel.meter ? { meter: otel.meter } : {}),
  };
}

const HOUSEKEEPING = new Set([
  'getNextJob',
  'startStalledCheckTimer',
  'moveStalledJobsToWait',
  'close',
  'trimEvents',
]);

function isHousekeeping(spanName: string): boolean {
  return HOUSEKEEPING.has(spanName.split(' ')[0] ?? '');
}

/** A span that records nothing and leaves the active context as it is. */
const UNRECORDED: Span = {
  setSpanOnContext: (ctx: unknown) => ctx,
  setAttribute: () => {},
  setAttributes: () => {},
  addEvent: () => {},
  recordException: () => {},
  end: () => {},
};

class MessagingSpan implements Span {
  readonly #span: Span;
  readonly #captureContent: boolean;

  constructor(span: Span, name: string, captureContent: boolean) {
    this.#span = span;
    this.#captureContent = captureContent;
    const operation = name.split(' ')[0] ?? name;
    const requestId = OPERATION_TYPES[operation] === 'send' ? activeRequestId() : undefined;
    span.setAttributes({
      ...(requestId ? { [REQUEST_ID_ATTRIBUTE]: requestId } : {}),
      [MESSAGING.system]: 'bullmq',
      [MESSAGING.operationName]: operation,
      ...(OPERATION_TYPES[operation]
        ? { [MESSAGING.operationType]: OPERATION_TYPES[operation] }
        : {}),
    });
  }

  setSpanOnContext(ctx: unknown): unknown {
    return this.#span.setSpanOnContext(ctx);
  }

  setAttribute(key: string, value: AttributeValue): void {
    this.setAttributes({ [key]: value });
  }

  setAttributes(attributes: Attributes): void {
    const extra: Attributes = {};
    const queue = attributes['bullmq.queue.name'];
    if (queue !== undefined) extra[MESSAGING.destination] = queue;
    const jobId = attributes['bullmq.job.id'];
    if (jobId !== undefined) extra[MESSAGING.messageId] = jobId;
    this.#span.setAttributes({ ...attributes, ...extra });
  }

  addEvent(name: string, attributes?: Attributes): void {
    if (attributes && !this.#captureContent && 'bullmq.job.result' in attributes) {
      const { 'bullmq.job.result': _result, ...rest } = attributes;
      this.#span.addEvent(name, rest);
      return;
    }
    this.#span.addEvent(name, attributes);
  }

  recordException(exception: Parameters<Span['recordException']>[0], time?: Time): void {
    this.#span.recordException(exception, time);
  }

  end(): void {
    this.#span.end();
  }
}
