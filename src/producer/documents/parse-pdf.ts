import { extractText, getDocumentProxy } from 'unpdf';

import { DocumentParseError, type TextPart } from './text-part.ts';

/**
 * A PDF's text layer, one part per page that has text. Encrypted and corrupt files fail with
 * the reason; a PDF with no text on any page (a scan) fails as having no extractable text.
 */
export async function parsePdf(bytes: Uint8Array): Promise<TextPart[]> {
  let pages: string[];
  try {
    const pdf = await getDocumentProxy(bytes);
    try {
      ({ text: pages } = await extractText(pdf, { mergePages: false }));
    } finally {
      await pdf.loadingTask.destroy();
    }
  } catch (err) {
    const e = err as Error;
    if (e.name === 'PasswordException') {
      throw new DocumentParseError('PDF is encrypted (needs a password)', { cause: err });
    }
    throw new DocumentParseError(`not a readable PDF: ${e.message}`, { cause: err });
  }
  const parts = pages
    .map((text, i) => ({ text: text.trim(), page: i + 1 }))
    .filter((p) => p.text.length > 0);
  if (parts.length === 0) {
    throw new DocumentParseError('PDF has no extractable text (a scan? OCR is not supported)');
  }
  return parts;
}
