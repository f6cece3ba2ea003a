import type { TextPart } from './text-part.ts';

const HEADING = /^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$/;
const FENCE = /^ {0,3}(```|~~~)/;

/**
 * Splits Markdown at its ATX headings (`## Setup`), outside fenced code: each part's
 * `section` is the nearest heading above it, and the heading line starts the part's text.
 */
export function parseMarkdown(text: string): TextPart[] {
  const parts: TextPart[] = [];
  let lines: string[] = [];
  let section: string | undefined;
  let inFence = false;
  const flush = () => {
    const body = lines.join('\n').trim();
    if (body) parts.push({ text: body, ...(section ? { section } : {}) });
  };
  for (const line of text.split(/\r?\n/)) {
    if (FENCE.test(line)) inFence = !inFence;
    const heading = inFence ? null : HEADING.exec(line);
    if (heading?.[2]) {
      flush();
      lines = [];
      section = heading[2];
    }
    lines.push(line);
  }
  flush();
  return parts;
}
