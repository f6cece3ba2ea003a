import { parseHTML } from 'linkedom';

import type { TextPart } from './text-part.ts';

const HEADINGS = new Set(['H1', 'H2', 'H3', 'H4', 'H5', 'H6']);
/** Elements whose text is one block; a block inside another is read with its outer block. */
const BLOCKS = 'h1,h2,h3,h4,h5,h6,p,li,pre,blockquote,dt,dd,td,th,figcaption';

/**
 * Splits already-cleaned HTML (Readability's article, mammoth's output) into parts at its
 * headings: each part's `section` is the nearest heading above it, and the heading itself
 * starts the part's text so a chunk still reads as a whole.
 */
export function sectionsFromHtml(html: string, title?: string): TextPart[] {
  const { document } = parseHTML(`<!doctype html><html><body>${html}</body></html>`);
  const parts: TextPart[] = [];
  let current: { lines: string[]; section?: string } = title
    ? { lines: [], section: title }
    : { lines: [] };
  const flush = () => {
    const text = current.lines.join('\n').trim();
    if (text) parts.push({ text, ...(current.section ? { section: current.section } : {}) });
  };
  for (const el of document.querySelectorAll(BLOCKS)) {
    if (el.parentElement?.closest(BLOCKS)) continue;
    const text = normalize(el.textContent ?? '');
    if (!text) continue;
    if (HEADINGS.has(el.tagName)) {
      flush();
      current = { lines: [text], section: text };
    } else {
      current.lines.push(text);
    }
  }
  flush();
  return parts;
}

function normalize(text: string): string {
  return text
    .replace(/[ \t\r\f\v\u00a0]+/g, ' ')
    .replace(/\s*\n\s*/g, '\n')
    .trim();
}
