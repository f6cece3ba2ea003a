import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { DocumentParser } from '../../../src/producer/documents/document-parser.ts';
import { encryptPdf, makeDocx, makeDocxBomb, printPdf } from '../../support/documents.ts';

/** The parser thread on real files: Chromium-printed PDFs, generated DOCX, noisy HTML. */
describe('DocumentParser', () => {
  let dir: string;
  let manual: Buffer;
  const parser = new DocumentParser();

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'askq-parse-'));
    manual = await readFile(
      await printPdf(
        dir,
        'manual.pdf',
        '<div class="page"><h1>Widget manual</h1><p>The widget ships in a blue box.</p></div>' +
          '<div class="page"><h2>Install</h2><p>The install code is ZEBRA-42.</p></div>' +
          '<div><h2>Reset</h2><p>Hold the reset button for nine seconds.</p></div>',
      ),
    );
  });

  afterAll(async () => {
    await parser.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('reads a PDF page by page', async () => {
    const parts = await parser.parse('pdf', manual);
    expect(parts.map((p) => p.page)).toEqual([1, 2, 3]);
    expect(parts[1]!.text).toContain('ZEBRA-42');
    expect(parts[2]!.text).toContain('nine seconds');
  });

  it('keeps the main content of an HTML page, sectioned by its headings, without the noise', async () => {
    const parts = await parser.parse(
      'html',
      Buffer.from(
        '<!doctype html><html><head><title>Billing help</title><style>.nav{color:red}</style>' +
          '<script>var trackingScript = 1;</script></head><body>' +
          '<header><nav><a href="/">Home</a> <a href="/shop">Shop NAVLINK</a></nav></header>' +
          '<main><article><h1>Billing help</h1>' +
          '<p>Invoices are sent on the first working day of every month to the billing contact.</p>' +
          '<h2>Refunds</h2><p>Refunds are paid back to the original card within fourteen days of approval.</p>' +
          '</article></main><aside class="advert">Buy ADVERT now</aside>' +
          '<footer>Copyright FOOTERTEXT 2026</footer></body></html>',
      ),
    );
    expect(parts).toEqual([
      { text: expect.stringContaining('first working day'), section: 'Billing help' },
      { text: expect.stringContaining('fourteen days'), section: 'Refunds' },
    ]);
    const all = parts.map((p) => p.text).join('\n');
    for (const noise of ['NAVLINK', 'FOOTERTEXT', 'ADVERT', 'trackingScript', 'color:red']) {
      expect(all).not.toContain(noise);
    }
  });

  it('decodes an HTML page in the charset it declares', async () => {
    const page = Buffer.concat([
      Buffer.from('<html><head><meta charset="iso-8859-1"><title>Caf'),
      Buffer.from([0xe9]),
      Buffer.from('</title></head><body><article><p>'),
      Buffer.from('Le caf', 'latin1'),
      Buffer.from([0xe9]),
      Buffer.from(' ouvre à huit heures et ferme à midi, sauf le dimanche matin.', 'latin1'),
      Buffer.from('</p></article></body></html>'),
    ]);
    const parts = await parser.parse('html', page);
    expect(parts[0]!.text).toBe(
      'Le café ouvre à huit heures et ferme à midi, sauf le dimanche matin.',
    );
    expect(parts[0]!.section).toBe('Café');
  });

  it('reads a DOCX, sectioned by its Heading styles', async () => {
    const docx = await makeDocx([
      { heading: 'Setup', paragraphs: ['Plug the cable into port B.'] },
      { heading: 'Care', paragraphs: ['Wipe the case with a dry cloth.'] },
    ]);
    expect(await parser.parse('docx', docx)).toEqual([
      { text: 'Setup\nPlug the cable into port B.', section: 'Setup' },
      { text: 'Care\nWipe the case with a dry cloth.', section: 'Care' },
    ]);
  });

  it('says why a file cannot be read: encrypted, corrupt, scanned, contentless, truncated', async () => {
    await encryptPdf(join(dir, 'manual.pdf'), join(dir, 'locked.pdf'));
    const scan = await readFile(
      await printPdf(
        dir,
        'scan.pdf',
        '<svg width="400" height="300"><rect width="400" height="300" fill="#333"/></svg>',
      ),
    );
    const failures = await Promise.all([
      parser.parse('pdf', await readFile(join(dir, 'locked.pdf'))).catch(String),
      parser.parse('pdf', Buffer.from('%PDF-1.7\nthis is not really a PDF\n')).catch(String),
      parser.parse('pdf', scan).catch(String),
      parser.parse('pdf', manual.subarray(0, 600)).catch(String),
      parser.parse('html', Buffer.from('<html><body><nav>Home</nav></body></html>')).catch(String),
      parser.parse('docx', Buffer.from('PK\u0003\u0004 not a zip at all')).catch(String),
    ]);
    expect(failures).toEqual([
      'DocumentParseError: PDF is encrypted (needs a password)',
      expect.stringMatching(/^DocumentParseError: not a readable PDF: /),
      'DocumentParseError: PDF has no extractable text (a scan? OCR is not supported)',
      expect.stringMatching(/^DocumentParseError: not a readable PDF: /),
      'DocumentParseError: HTML page has no readable content',
      expect.stringMatching(/^DocumentParseError: not a readable DOCX: /),
    ]);
    // The thread survived all of it.
    expect((await parser.parse('pdf', manual)).length).toBe(3);
  });

  it('stops a DOCX zip bomb at the memory limit and a slow parse at the timeout, then goes on', async () => {
    const bomb = await makeDocxBomb(1_000_000);
    expect(bomb.length).toBeLessThan(1024 * 1024); // tens of MB of XML once inflated
    const small = new DocumentParser({ memoryMb: 32 });
    const hasty = new DocumentParser({ timeoutMs: 1 });
    try {
      await expect(small.parse('docx', bomb)).rejects.toThrow(
        'parsing needed more than 32 MB of memory',
      );
      await expect(hasty.parse('pdf', manual)).rejects.toThrow('parsing took longer than 0.001 s');
      // A fresh thread takes the next file.
      expect((await small.parse('pdf', manual)).length).toBe(3);
    } finally {
      await small.close();
      await hasty.close();
    }
  });
});
