import { type Logger, type LoggerOptions, pino } from 'pino';

import { activeTraceIds } from './telemetry/spans.ts';

export type { Logger } from 'pino';

/**
 * Paths pino censors wherever they appear: API keys, auth headers, Redis passwords (including
 * inside ioredis errors' `command.args`, which hold an AUTH's password).
 */
export const REDACT_PATHS = [
  '*.apiKey',
  '*.api_key',
  '*.password',
  '*.authorization',
  '*.Authorization',
  '*.headers.authorization',
  '*.OPENAI_API_KEY',
  '*.PINECONE_API_KEY',
  '*.ASKQ_API_KEYS',
  '*.ASKQ_ADMIN_KEYS',
  '*.ASKQ_BOARD_PASSWORD',
  'err.command.args',
  'error.command.args',
  '*.err.command.args',
];

export interface CreateLoggerOptions {
  /** @defaultValue info */
  level?: string;
  /** Service name in every line. */
  name?: string;
  /** Where lines go. @defaultValue stdout */
  destination?: NodeJS.WritableStream;
}

/** A pino JSON logger with askq's redaction. */
export function createLogger(options: CreateLoggerOptions = {}): Logger {
  const opts: LoggerOptions = {
    level: options.level ?? 'info',
    base: { service: options.name ?? 'askq' },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
    // Every line written inside a span (a job's attempt, a stage) carries its trace ids.
    mixin: () => {
      const ids = activeTraceIds();
      return ids ? { trace_id: ids.traceId, span_id: ids.spanId } : {};
    },
  };
  return options.destination ? pino(opts, options.destination) : pino(opts);
}
