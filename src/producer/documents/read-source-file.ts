import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';

import { contentMismatch, type DocumentFormat } from './detect-format.ts';
import type { DocumentParser } from './document-parser.ts';
import { parseJsonl } from './parse-jsonl.ts';
import { parseMarkdown } from './parse-markdown.ts';
import type { TextPart } from './text-part.ts';

/** A document to ingest. `id` is what answers cite as `sources[].id`. */
export interface SourceDocument {
  id: string;
  /** The text with where each part comes from (page, section). */
  parts: TextPart[];
  metadata: Record<string, string>;
}

/** A file that was read: its documents (one, or one per JSONL line) and its content hash. */
export interface SourceFile {
  /** Path relative to the folder ingested (a file given directly: its name). */
  id: string;
  /** Where it was read from. */
  path: string;
  /** SHA-256 of the file's bytes, hex. */
  hash: string;
  documents: SourceDocument[];
}

/** A file or line that was skipped, with why. */
export interface SkippedInput {
  /** `path` or `path:line`. */
  where: string;
  reason: string;
}

/** What {@link readSourceFile} needs besides the file. */
export interface ReadFileOptions {
  parser: DocumentParser;
  /** Larger files are skipped unread. */
  maxFileBytes: number;
  onSkip: (skipped: SkippedInput) => void;
  /** Called with the content hash before parsing; false skips the file as unchanged. */
  isChanged?: (hash: string) => boolean;
}

/**
 * Reads one file of a known format: size-checked, content-checked against its extension,
 * parsed (PDF, DOCX and HTML in the parser thread). A file that cannot be used is reported
 * through `onSkip` and yields undefined; so does an unchanged one (without a report).
 */
export async function readSourceFile(
  path: string,
  id: string,
  format: DocumentFormat,
  options: ReadFileOptions,
): Promise<SourceFile | undefined> {
  const skip = (reason: string, where = path) => {
    options.onSkip({ where, reason });
    return undefined;
  };
  let bytes: Buffer;
  try {
    const { size } = await stat(path);
    if (size > options.maxFileBytes) {
      return skip(
        `file is ${size} bytes, over the limit of ${options.maxFileBytes} (ASKQ_INGEST_MAX_FILE_BYTES)`,
      );
    }
    bytes = await readFile(path);
  } catch (err) {
    return skip(`cannot read: ${(err as Error).message}`);
  }
  if (bytes.length === 0) return skip('empty file');
  const mismatch = contentMismatch(format, bytes);
  if (mismatch) return skip(`content does not match the .${format} extension: ${mismatch}`);
  const hash = createHash('sha256').update(bytes).digest('hex');
  if (options.isChanged && !options.isChanged(hash)) return undefined;

  const metadata = { source: id };
  let documents: SourceDocument[];
  switch (format) {
    case 'jsonl':
      documents = parseJsonl(decode(bytes), (line, reason) =>
        options.onSkip({ where: `${path}:${line}`, reason }),
      ).map((r) => ({
        id: r.id ?? `${id}:${r.line}`,
        parts: [{ text: r.text }],
        metadata: { ...metadata, ...r.metadata },
      }));
      if (documents.length === 0) return skip('no documents in file');
      break;
    case 'txt':
    case 'md': {
      const text = decode(bytes);
      if (text.trim() === '') return skip('empty file');
      const parts = format === 'md' ? parseMarkdown(text) : [{ text }];
      documents = [{ id, parts, metadata }];
      break;
    }
    default:
      try {
        documents = [{ id, parts: await options.parser.parse(format, bytes), metadata }];
      } catch (err) {
        return skip((err as Error).message);
      }
  }
  return { id, path, hash, documents };
}

function decode(bytes: Buffer): string {
  const text = bytes.toString('utf8');
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}
