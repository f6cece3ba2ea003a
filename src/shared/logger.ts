import { type Logger, type LoggerOptions, pino } from 'pino';

import { isSecretKey, REDACTED, redactUrlCredentials } from './secrets.ts';
import { activeTraceIds } from './telemetry/spans.ts';

export type { Logger } from 'pino';

export interface CreateLoggerOptions {
  /** @defaultValue info */
  level?: string;
  /** Service name in every line. */
  name?: string;
  /** Where lines go. @defaultValue stdout ({@link logDestination}) */
  destination?: NodeJS.WritableStream;
}

/** Deeper than this, an object is replaced rather than walked (and cycles end here). */
const MAX_DEPTH = 8;
const TOO_DEEP = '[redacted: nested too deep]';
const UNSERIALIZABLE = '[unserializable]';
/** A cheap first look before the replacing regex runs. */
const HAS_URL_CREDENTIALS = /:\/\/[^\s@]+@/;

/** Verdicts per key name: log objects use a small, repeating set of keys. */
const verdicts = new Map<string, boolean>();
function secretKey(key: string): boolean {
  let verdict = verdicts.get(key);
  if (verdict === undefined) {
    if (verdicts.size >= 4096) verdicts.clear();
    verdict = isSecretKey(key);
    verdicts.set(key, verdict);
  }
  return verdict;
}

const serializeError = pino.stdSerializers.err;

/** The second {@link isoTime} last formatted, and its text up to the milliseconds. */
let isoSecond = Number.NaN;
let isoPrefix = '';

/**
 * pino's `time` field as pino's own `isoTime` writes it (`,"time":"2026-12-02T05:02:46.312Z"`),
 * formatting the date once per second: `Date#toISOString` per line was a fifth of a line's
 * cost at a line per job. Only the milliseconds are written per line.
 */
export function isoTime(): string {
  const now = Date.now();
  const ms = now % 1000;
  const second = now - ms;
  if (second !== isoSecond) {
    isoSecond = second;
    // Without its "mmmZ" (toISOString always ends ".mmmZ"), whatever the year's width.
    isoPrefix = `,"time":"${new Date(second).toISOString().slice(0, -4)}`;
  }
  return `${isoPrefix}${ms < 10 ? '00' : ms < 100 ? '0' : ''}${ms}Z"`;
}

/**
 * `value` with secrets hidden, or `value` itself when it holds none (the common case: nothing
 * is copied). Hidden: values under secret-looking keys at any depth ({@link isSecretKey}:
 * `apiKey`, `password`, `Authorization`, `OPENAI_API_KEY`, `ASKQ_ADMIN_KEYS`…), the arguments
 * of an ioredis error's `command` (an AUTH carries the password), and credentials inside URLs.
 */
export function scrubLogValue(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') {
    return HAS_URL_CREDENTIALS.test(value) ? redactUrlCredentials(value) : value;
  }
  if (value === null || typeof value !== 'object') return value;
  if (ArrayBuffer.isView(value) || value instanceof Date) return value;
  if (depth >= MAX_DEPTH) return TOO_DEEP;
  if (value instanceof Error) return scrubLogValue(serializeError(value), depth);
  // What JSON.stringify would write for it (a URL's href, with its password), scrubbed. A
  // toJSON that throws must not turn a log call into an exception.
  if (typeof (value as { toJSON?: unknown }).toJSON === 'function') {
    try {
      return scrubLogValue((value as { toJSON: (key: string) => unknown }).toJSON(''), depth + 1);
    } catch {
      return UNSERIALIZABLE;
    }
  }
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      const clean = scrubLogValue(item, depth + 1);
      if (clean !== item) (copy ??= value.slice())[i] = clean;
    }
    return copy ?? value;
  }
  return scrubRecord(value as Record<string, unknown>, depth);
}

/** {@link scrubLogValue} for an object's own keys, leaving the key `skip` as it is. */
function scrubRecord(
  record: Record<string, unknown>,
  depth: number,
  skip?: string,
): Record<string, unknown> {
  let copy: Record<string, unknown> | undefined;
  for (const key of Object.keys(record)) {
    const item = record[key];
    if (item === undefined || key === skip) continue;
    let clean: unknown;
    if (secretKey(key)) clean = REDACTED;
    else if (key === 'args' && depth > 0 && 'name' in record)
      clean = REDACTED; // ioredis Command
    else clean = scrubLogValue(item, depth + 1);
    if (clean !== item) (copy ??= { ...record })[key] = clean;
  }
  return copy ?? record;
}

/**
 * Bytes one write may carry. pino's default (16 KiB) lets lines pile up into one string while a
 * write is in flight, and sonic-boom measures that string's byte length at every line, copying
 * it whole each time: at a line per job and hundreds of jobs a second, kilobytes of garbage per
 * line. A smaller cap bounds the copy; a write still carries a few dozen lines.
 */
const MAX_WRITE_BYTES = 4096;

/**
 * pino's own asynchronous destination (sonic-boom) on a file descriptor or path, as pino
 * builds for stdout, with writes capped at {@link MAX_WRITE_BYTES}. Flushed when the process
 * exits, as pino's default is.
 */
export function logDestination(dest: number | string): NodeJS.WritableStream {
  // pino types it as a SonicBoom, not a stream; pino() takes either.
  return pino.destination({
    dest,
    sync: false,
    maxWrite: MAX_WRITE_BYTES,
  }) as unknown as NodeJS.WritableStream;
}

/**
 * A pino JSON logger that keeps secrets out of its lines.
 *
 * Not pino's `redact`: its wildcard paths compile to a redactor that copies and walks every
 * value of every line (a tenth of the worker's CPU at one line per job). Here each line's
 * object is walked once without copying ({@link scrubLogValue}), and copied only where a secret
 * is found; errors are scrubbed after pino serializes them, child bindings before pino
 * stringifies them.
 */
export function createLogger(options: CreateLoggerOptions = {}): Logger {
  const opts: LoggerOptions = {
    level: options.level ?? 'info',
    base: { service: options.name ?? 'askq' },
    timestamp: isoTime,
    serializers: { err: (err: unknown) => scrubLogValue(serializeError(err as Error)) },
    formatters: {
      // `err` is left to its serializer above, which sees the Error itself.
      log: (obj) => scrubRecord(obj, 0, 'err'),
    },
    // The message and its format arguments are strings pino writes as they are: a URL in
    // them (`connecting to ${url}`) keeps no password either.
    hooks: {
      logMethod(args, method) {
        // A first argument that is an object goes through the `log` formatter instead.
        for (let i = typeof args[0] === 'string' ? 0 : 1; i < args.length; i++) {
          const arg: unknown = args[i];
          if (typeof arg === 'string') {
            if (HAS_URL_CREDENTIALS.test(arg)) args[i] = redactUrlCredentials(arg);
          } else if (arg !== null && typeof arg === 'object') {
            // `%s`, `%o` and `%j` print objects (a URL with its password) as they are.
            args[i] = scrubLogValue(arg) as never;
          }
        }
        method.apply(this, args);
      },
    },
    // Every line written inside a span (a job's attempt, a stage) carries its trace ids.
    mixin: () => {
      const ids = activeTraceIds();
      return ids ? { trace_id: ids.traceId, span_id: ids.spanId } : {};
    },
  };
  const logger = pino(opts, options.destination ?? logDestination(process.stdout.fd ?? 1));
  // pino applies no formatter to a child's bindings: scrub them here. Children inherit this.
  const child = logger.child;
  logger.child = function (this: Logger, bindings: Record<string, unknown>, childOptions?: object) {
    return child.call(this, scrubRecord(bindings, 0), childOptions);
  } as typeof logger.child;
  return logger;
}
