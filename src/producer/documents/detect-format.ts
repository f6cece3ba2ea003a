import { extname } from 'node:path';

/** The kinds of file `askq ingest` reads. */
export type DocumentFormat = 'txt' | 'md' | 'jsonl' | 'html' | 'pdf' | 'docx';

const BY_EXTENSION: Record<string, DocumentFormat> = {
  '.txt': 'txt',
  '.md': 'md',
  '.markdown': 'md',
  '.jsonl': 'jsonl',
  '.html': 'html',
  '.htm': 'html',
  '.pdf': 'pdf',
  '.docx': 'docx',
};

/** Extensions `askq ingest` reads, for messages and docs. */
export const INGESTIBLE_EXTENSIONS = Object.keys(BY_EXTENSION);

/** The format a file's extension claims, or undefined when askq does not read that kind. */
export function formatOf(path: string): DocumentFormat | undefined {
  return BY_EXTENSION[extname(path).toLowerCase()];
}

const PDF_MAGIC = Buffer.from('%PDF-');
const ZIP_MAGIC = Buffer.from('PK\u0003\u0004', 'latin1');
/** PDF readers accept the header anywhere in the first KiB. */
const PDF_HEADER_WINDOW = 1024;
const TEXT_SNIFF_BYTES = 8192;

/**
 * Checks that the content is what the extension claims; returns the problem, or undefined.
 * PDFs must carry a `%PDF-` header, DOCX files must be ZIP archives, and text formats must
 * not be binary (no NUL byte, no PDF or ZIP signature), so a renamed file is reported rather
 * than parsed as something it is not.
 */
export function contentMismatch(format: DocumentFormat, bytes: Uint8Array): string | undefined {
  const head = Buffer.from(
    bytes.buffer,
    bytes.byteOffset,
    Math.min(bytes.length, TEXT_SNIFF_BYTES),
  );
  switch (format) {
    case 'pdf':
      return head.subarray(0, PDF_HEADER_WINDOW).includes(PDF_MAGIC)
        ? undefined
        : 'not a PDF (no %PDF- header)';
    case 'docx':
      return head.subarray(0, ZIP_MAGIC.length).equals(ZIP_MAGIC)
        ? undefined
        : 'not a DOCX (not a ZIP archive)';
    default:
      if (head.subarray(0, PDF_MAGIC.length).equals(PDF_MAGIC)) return 'a PDF, not text';
      if (head.subarray(0, ZIP_MAGIC.length).equals(ZIP_MAGIC)) return 'a ZIP archive, not text';
      return head.includes(0) ? 'binary content, not text' : undefined;
  }
}
