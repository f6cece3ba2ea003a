import { Writable } from 'node:stream';

import { createLogger } from '../../src/shared/logger.ts';

export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

/**
 * A real pino logger (askq's own, redaction included) whose JSON lines are kept; `next(msg)`
 * resolves with the first line whose message matches, already written or still to come.
 */
export function capturingLogger(level = 'info') {
  const lines: LogLine[] = [];
  const waiting = new Set<{ msg: RegExp; resolve: (line: LogLine) => void }>();
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const text of chunk.toString().split('\n').filter(Boolean)) {
        const line = JSON.parse(text) as LogLine;
        lines.push(line);
        for (const w of waiting) {
          if (w.msg.test(line.msg)) {
            waiting.delete(w);
            w.resolve(line);
          }
        }
      }
      done();
    },
  });
  const next = (msg: RegExp): Promise<LogLine> => {
    const seen = lines.find((l) => msg.test(l.msg));
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve) => waiting.add({ msg, resolve }));
  };
  return { logger: createLogger({ level, destination }), lines, next };
}
