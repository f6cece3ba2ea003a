import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

import { DEFAULTS } from '../../shared/defaults.ts';
import { SECOND } from '../../shared/time.ts';
import type { ParseReply, ThreadFormat } from './parser-protocol.ts';
import { DocumentParseError, type TextPart } from './text-part.ts';

/** Options of {@link DocumentParser}. */
export interface DocumentParserOptions {
  /** How long one file may take to parse before its thread is terminated. @defaultValue 60 * SECOND */
  timeoutMs?: number;
  /** Heap of the parser thread in MB; a file that needs more (a zip bomb) fails. @defaultValue 512 */
  memoryMb?: number;
}

export const DOCUMENT_PARSER_DEFAULTS = {
  timeoutMs: DEFAULTS.ingestParseTimeoutMs,
  memoryMb: DEFAULTS.ingestParseMemoryMb,
} satisfies Required<DocumentParserOptions>;

// The entry is a sibling module: `.ts` when run from source, `.js` once built.
const ENTRY = new URL(
  `./parser-thread-entry${extname(fileURLToPath(import.meta.url))}`,
  import.meta.url,
);

/**
 * Parses PDF, DOCX and HTML files in a worker thread, one at a time, with a timeout and a
 * heap limit: a file that hangs or balloons is reported and its thread replaced, and the
 * caller's event loop never blocks on a parser.
 */
export class DocumentParser {
  readonly #settings: Required<DocumentParserOptions>;
  #thread: Worker | undefined;
  #nextId = 0;

  constructor(options: DocumentParserOptions = {}) {
    this.#settings = { ...DOCUMENT_PARSER_DEFAULTS, ...options };
  }

  /** The file's text parts; rejects with a {@link DocumentParseError} that says why not. */
  parse(format: ThreadFormat, bytes: Uint8Array): Promise<TextPart[]> {
    const thread = this.#threadOrSpawn();
    const id = (this.#nextId += 1);
    const { timeoutMs, memoryMb } = this.#settings;
    return new Promise<TextPart[]>((resolve, reject) => {
      const settle = (fail?: Error, parts?: TextPart[]) => {
        clearTimeout(timer);
        thread.off('message', onMessage).off('error', onError).off('exit', onExit);
        if (fail) reject(fail);
        else resolve(parts ?? []);
      };
      const onMessage = (reply: ParseReply) => {
        if (reply.id !== id) return;
        if ('error' in reply) settle(new DocumentParseError(reply.error));
        else settle(undefined, reply.parts);
      };
      const onError = (err: Error & { code?: string }) => {
        this.#discard(thread);
        settle(
          err.code === 'ERR_WORKER_OUT_OF_MEMORY'
            ? new DocumentParseError(`parsing needed more than ${memoryMb} MB of memory`, {
                cause: err,
              })
            : new DocumentParseError(`parser failed: ${err.message}`, { cause: err }),
        );
      };
      const onExit = (code: number) => {
        this.#discard(thread);
        settle(new DocumentParseError(`parser thread stopped (exit code ${code})`));
      };
      const timer = setTimeout(() => {
        this.#discard(thread);
        settle(new DocumentParseError(`parsing took longer than ${timeoutMs / SECOND} s`));
      }, timeoutMs);
      thread.on('message', onMessage).on('error', onError).on('exit', onExit);
      thread.postMessage({ id, format, bytes });
    });
  }

  /** Stops the parser thread. */
  async close(): Promise<void> {
    const thread = this.#thread;
    this.#thread = undefined;
    await thread?.terminate();
  }

  #threadOrSpawn(): Worker {
    if (this.#thread) return this.#thread;
    const thread = new Worker(ENTRY, {
      resourceLimits: { maxOldGenerationSizeMb: this.#settings.memoryMb },
      stdout: true,
      stderr: true,
    });
    // pdf.js warns on the console: those lines must not mix into the CLI's output.
    thread.stdout.resume();
    thread.stderr.resume();
    // The thread never keeps the process alive: the caller's work does.
    thread.unref();
    this.#thread = thread;
    return thread;
  }

  #discard(thread: Worker): void {
    if (this.#thread === thread) this.#thread = undefined;
    void thread.terminate().catch(() => undefined);
  }
}
