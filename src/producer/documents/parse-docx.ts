import mammoth from 'mammoth';

import { sectionsFromHtml } from './sections-from-html.ts';
import { DocumentParseError, type TextPart } from './text-part.ts';

/** A Word document's text, split at its headings (Word's Heading styles become h1…h6). */
export async function parseDocx(bytes: Uint8Array): Promise<TextPart[]> {
  let html: string;
  try {
    ({ value: html } = await mammoth.convertToHtml({ buffer: Buffer.from(bytes) }));
  } catch (err) {
    throw new DocumentParseError(`not a readable DOCX: ${(err as Error).message}`, {
      cause: err,
    });
  }
  const parts = sectionsFromHtml(html);
  if (parts.length === 0) throw new DocumentParseError('DOCX has no text');
  return parts;
}
