import {
  type Context,
  context,
  propagation,
  type Span as OtelSpan,
  SpanKind,
  trace,
} from '@opentelemetry/api';
import {
  type Attributes,
  type AttributeValue,
  RATE_LIMIT_ERROR,
  type Span,
  type Telemetry,
  type Time,
} from 'bullmq';
import { BullMQOtel } from 'bullmq-otel';

import { activeRequestId, REQUEST_ID_ATTRIBUTE } from './request-id.ts';
import { sdkTracer } from './spans.ts';

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

/** How a worker's consumer spans are recorded ({@link withConsumerSpan}). */
export interface QueueTelemetryOptions {
  /** Keep job results (answer text) in span events. @defaultValue false */
  captureContent?: boolean;
}

/**
 * BullMQ's attributes under the OTel messaging names, or `null` for those dropped: the queue's
 * operation is `messaging.operation.name` already, and each askq queue has one job name
 * (`answer`, `ingest`), which the span's name says already.
 */
const RENAMED = new Map<string, string | null>([
  ['bullmq.queue.name', MESSAGING.destination],
  ['bullmq.job.id', MESSAGING.messageId],
  ['bullmq.queue.operation', null],
  ['bullmq.job.name', null],
]);

/**
 * The official bullmq-otel telemetry for askq's producers (Queue), with BullMQ's attributes
 * under the OTel messaging names ({@link RENAMED}). askq's workers take none: they make their
 * consumer spans themselves ({@link withConsumerSpan}).
 */
export function createQueueTelemetry(): Telemetry {
  const otel = new BullMQOtel({ tracerName: 'askq-bullmq' });
  return {
    contextManager: otel.contextManager,
    tracer: {
      startSpan(name, spanOptions, context) {
        // BullMQ's housekeeping (closing, trimming the events stream) would bury the spans
        // users look for: not recorded.
        if (isHousekeeping(name)) return UNRECORDED;
        // No SDK registered: nothing would record it, and renaming attributes onto a no-op
        // span is work per job for nothing. Its context would carry its parent's ids (a
        // producer's, propagated), which the parent context BullMQ hands in carries already.
        if (sdkTracer() === undefined) return UNRECORDED;
        const span = otel.tracer.startSpan(name, spanOptions, context);
        return new MessagingSpan(span, name);
      },
    },
    ...(otel.meter ? { meter: otel.meter } : {}),
  };
}

const HOUSEKEEPING = new Set(['close', 'trimEvents']);

function isHousekeeping(spanName: string): boolean {
  return HOUSEKEEPING.has(operationOf(spanName));
}

/** A span name's first word: BullMQ names its spans `<operation> <queue>`. */
function operationOf(spanName: string): string {
  const space = spanName.indexOf(' ');
  return space === -1 ? spanName : spanName.slice(0, space);
}

/** The messaging attributes every span of an operation starts with, built once per operation. */
const operationAttributes = new Map<string, Attributes>();
function attributesOf(operation: string): Attributes {
  let attributes = operationAttributes.get(operation);
  if (!attributes) {
    const type = Object.hasOwn(OPERATION_TYPES, operation) ? OPERATION_TYPES[operation] : undefined;
    attributes = {
      [MESSAGING.system]: 'bullmq',
      [MESSAGING.operationName]: operation,
      ...(type ? { [MESSAGING.operationType]: type } : {}),
    };
    operationAttributes.set(operation, attributes);
  }
  return attributes;
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

  constructor(span: Span, name: string) {
    this.#span = span;
    const attributes = attributesOf(operationOf(name));
    const requestId =
      attributes[MESSAGING.operationType] === 'send' ? activeRequestId() : undefined;
    span.setAttributes(
      requestId ? { [REQUEST_ID_ATTRIBUTE]: requestId, ...attributes } : attributes,
    );
  }

  setSpanOnContext(ctx: unknown): unknown {
    return this.#span.setSpanOnContext(ctx);
  }

  setAttribute(key: string, value: AttributeValue): void {
    this.setAttributes({ [key]: value });
  }

  setAttributes(attributes: Attributes): void {
    let renamed: Attributes | undefined;
    for (const key in attributes) {
      const name = RENAMED.has(key) ? RENAMED.get(key) : key;
      if (name) (renamed ??= {})[name] = attributes[key];
    }
    if (renamed) this.#span.setAttributes(renamed);
  }

  addEvent(name: string, attributes?: Attributes): void {
    this.#span.addEvent(name, attributes);
  }

  recordException(exception: Parameters<Span['recordException']>[0], time?: Time): void {
    this.#span.recordException(exception, time);
  }

  end(): void {
    this.#span.end();
  }
}

/** A job as its consumer span needs it: its id, and the trace context its producer put in it. */
export interface ConsumedJob {
  id?: string | undefined;
  opts?: { telemetry?: { metadata?: string | undefined } | undefined } | undefined;
}

/** Errors by which a processor tells BullMQ to hold the job back, not that it failed. */
const NOT_FAILURES = new Set(['DelayedError', 'WaitingError', 'WaitingChildrenError']);

/**
 * Runs one attempt at `job` inside its consumer span, `process <queue>`, made the child of the
 * producer's span whose context BullMQ's telemetry put in the job (`opts.telemetry.metadata`,
 * bullmq-otel's W3C carrier), so a question's trace runs from its enqueue to its answer.
 *
 * askq makes this span itself instead of giving its workers BullMQ's telemetry: per job, that
 * also wraps the fetch and the finish in spans askq does not record, and serializes the whole
 * result a second time for an event askq records only with content capture on, about a tenth
 * of the worker's CPU per job (instant jobs, tracing on, the worker with and without it). The span
 * ends when the attempt settles, before BullMQ writes its outcome to Redis. An attempt that
 * ends the job with an error (not a retry askq delays, nor a wait BullMQ is told of) adds a
 * `job failed` event with its reason, and with `captureContent` a completed one adds the result
 * as a `job completed` event, as BullMQ's own did. Without an SDK registered the attempt runs as
 * it is.
 */
export function withConsumerSpan<T>(
  queue: string,
  job: ConsumedJob,
  attempt: () => Promise<T>,
  options: QueueTelemetryOptions = {},
): Promise<T> {
  let span: OtelSpan;
  let attemptContext: Context;
  try {
    const tracer = sdkTracer();
    if (tracer === undefined) return attempt();
    const active = context.active();
    const metadata = job.opts?.telemetry?.metadata;
    const parent = metadata ? producerContext(active, metadata) : active;
    span = tracer.startSpan(
      `process ${queue}`,
      { kind: SpanKind.CONSUMER, attributes: consumerAttributes(queue, job.id) },
      parent,
    );
    attemptContext = trace.setSpan(parent, span);
  } catch {
    // Telemetry never fails a job.
    return attempt();
  }
  let settled: Promise<T>;
  try {
    settled = context.with(attemptContext, attempt);
  } catch (err) {
    settled = Promise.reject(err as Error);
  }
  return settled.then(
    (result) => {
      endConsumerSpan(span, () => {
        if (options.captureContent) {
          span.addEvent('job completed', { 'bullmq.job.result': JSON.stringify(result) });
        }
      });
      return result;
    },
    (err: unknown) => {
      endConsumerSpan(span, () => {
        const e = err as { name?: unknown; message?: unknown } | null | undefined;
        const message = typeof e?.message === 'string' ? e.message : String(err);
        if (NOT_FAILURES.has(String(e?.name)) || message === RATE_LIMIT_ERROR) return;
        span.addEvent('job failed', { 'bullmq.job.failed.reason': message });
      });
      throw err;
    },
  );
}

/** Records what `record` adds, then ends the span; a telemetry error is swallowed. */
function endConsumerSpan(span: { end(): void }, record: () => void): void {
  try {
    record();
    span.end();
  } catch {
    // Telemetry never fails a job.
  }
}

/** The producer's context from a job's metadata, or `active` when there is none to read. */
function producerContext(active: Context, metadata: string): Context {
  try {
    const carrier: unknown = JSON.parse(metadata);
    return carrier !== null && typeof carrier === 'object'
      ? propagation.extract(active, carrier)
      : active;
  } catch {
    // A foreign producer's metadata that is not bullmq-otel's: the span starts a trace.
    return active;
  }
}

/** The attributes of a consumer span, the per-queue part built once. */
const consumerAttributesByQueue = new Map<string, Attributes>();
function consumerAttributes(queue: string, jobId: string | undefined): Attributes {
  let base = consumerAttributesByQueue.get(queue);
  if (!base) {
    base = { ...attributesOf('process'), [MESSAGING.destination]: queue };
    consumerAttributesByQueue.set(queue, base);
  }
  return { ...base, [MESSAGING.messageId]: jobId ?? '' };
}

/** A BullMQ processor, with the signal BullMQ hands a processor that takes three arguments. */
type Processor<J, R> = (job: J, token?: string, signal?: AbortSignal) => Promise<R>;

/** `processor` with each attempt in its consumer span ({@link withConsumerSpan}). */
export function consumerSpans<J extends ConsumedJob, R>(
  queue: string,
  processor: Processor<J, R>,
  options: QueueTelemetryOptions = {},
): Processor<J, R> {
  // Three parameters: BullMQ gives a processor its job's AbortSignal only when it declares one.
  return (job, token, signal) =>
    withConsumerSpan(queue, job, () => processor(job, token, signal), options);
}
