import { type Logger, type LoggerOptions, pino } from 'pino';

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
  };
  return options.destination ? pino(opts, options.destination) : pino(opts);
}
