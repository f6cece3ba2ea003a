import { Readability } from '@mozilla/readability';
import { parseHTML } from 'linkedom';

import { sectionsFromHtml } from './sections-from-html.ts';
import { DocumentParseError, type TextPart } from './text-part.ts';

/**
 * The main content of an HTML page, as Firefox's Reader View finds it: navigation, headers,
 * footers, asides, scripts and styles are dropped. A page with no readable content fails.
 */
export function parseHtml(html: string): TextPart[] {
  const { document } = parseHTML(html);
  // Readability judges and rewrites the document it is given.
  const article = new Readability(
    document as unknown as ConstructorParameters<typeof Readability>[0],
  ).parse();
  // Readability lifts the page's title out of the article: it names the text before the first heading.
  const parts = article?.content
    ? sectionsFromHtml(article.content, article.title?.trim() || undefined)
    : [];
  if (parts.length === 0) throw new DocumentParseError('HTML page has no readable content');
  return parts;
}

const CHARSET = /<meta[^>]+charset\s*=\s*["']?\s*([\w.:-]+)/i;
/** Browsers look for the charset declaration within the first 1024 bytes. */
const CHARSET_WINDOW = 1024;

/** The page's text, decoded as its `<meta charset>` says (UTF-8 when it says nothing known). */
export function decodeHtml(bytes: Uint8Array): string {
  const head = Buffer.from(bytes.subarray(0, CHARSET_WINDOW)).toString('latin1');
  const label = CHARSET.exec(head)?.[1];
  try {
    return new TextDecoder(label ?? 'utf-8').decode(bytes);
  } catch {
    return new TextDecoder('utf-8').decode(bytes);
  }
}
