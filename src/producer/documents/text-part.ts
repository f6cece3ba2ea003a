/**
 * A run of a document's text and where in the document it comes from. Chunks never span two
 * parts, so every chunk keeps its part's page and section.
 */
export interface TextPart {
  text: string;
  /** 1-based page of a PDF. */
  page?: number;
  /** Nearest heading above the text (HTML, Markdown, DOCX). */
  section?: string;
}

/** Why a file could not be turned into text; the run reports it by name and goes on. */
export class DocumentParseError extends Error {
  override name = 'DocumentParseError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}
