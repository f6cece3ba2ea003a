import { execFile } from 'node:child_process';
import { access, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';

import { Document, HeadingLevel, Packer, Paragraph } from 'docx';
import JSZip from 'jszip';

const run = promisify(execFile);

/** The machine's Chromium, as test/support/browser.ts finds it (CHROMIUM_PATH first). */
export async function findChromium(): Promise<string> {
  const candidates = [
    process.env.CHROMIUM_PATH,
    '/usr/bin/chromium',
    '/usr/bin/chromium-browser',
    '/usr/bin/google-chrome',
  ].filter((c): c is string => Boolean(c));
  for (const candidate of candidates) {
    if (
      await access(candidate).then(
        () => true,
        () => false,
      )
    )
      return candidate;
  }
  throw new Error(`no Chromium found (tried ${candidates.join(', ')}); set CHROMIUM_PATH`);
}

/**
 * Prints HTML to `<dir>/<name>` with headless Chromium's `--print-to-pdf`: every element
 * with class `page` ends a page, so a test knows which text is on which page.
 */
export async function printPdf(dir: string, name: string, html: string): Promise<string> {
  // The source page and Chromium's profile stay out of `dir`, which a test may ingest.
  const work = await mkdtemp(join(tmpdir(), 'askq-print-'));
  const source = join(work, 'source.html');
  const out = join(dir, name);
  try {
    await writeFile(
      source,
      `<!doctype html><html><head><style>.page{break-after:page}</style></head><body>${html}</body></html>`,
    );
    await run(await findChromium(), [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--no-first-run',
      '--disable-background-networking',
      '--no-pdf-header-footer',
      `--user-data-dir=${join(work, 'profile')}`,
      `--print-to-pdf=${out}`,
      pathToFileURL(source).href,
    ]);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  return out;
}

/** A DOCX with Word's Heading 1 style on `heading` lines, body paragraphs under them. */
export async function makeDocx(
  sections: { heading: string; paragraphs: string[] }[],
): Promise<Buffer> {
  const doc = new Document({
    sections: [
      {
        children: sections.flatMap((s) => [
          new Paragraph({ text: s.heading, heading: HeadingLevel.HEADING_1 }),
          ...s.paragraphs.map((p) => new Paragraph(p)),
        ]),
      },
    ],
  });
  return Packer.toBuffer(doc);
}

/**
 * A DOCX zip bomb: a real DOCX whose document.xml is replaced by `paragraphs` repetitions of
 * one paragraph, which deflates to a small fraction of its size.
 */
export async function makeDocxBomb(paragraphs: number): Promise<Buffer> {
  const zip = await JSZip.loadAsync(await makeDocx([{ heading: 'Bomb', paragraphs: ['x'] }]));
  const body = '<w:p><w:r><w:t>boom</w:t></w:r></w:p>'.repeat(paragraphs);
  zip.file(
    'word/document.xml',
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>' +
      '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">' +
      `<w:body>${body}</w:body></w:document>`,
  );
  return zip.generateAsync({
    type: 'nodebuffer',
    compression: 'DEFLATE',
    compressionOptions: { level: 9 },
  });
}

/**
 * The PDF with a password added the way PDF readers see it: an incremental update whose
 * trailer points at a standard security handler (RC4, revision 2) whose user-password hash
 * the empty password does not match.
 */
export async function encryptPdf(path: string, out: string): Promise<void> {
  const pdf = await readFile(path);
  const text = pdf.toString('latin1');
  const root = /\/Root (\d+ \d+ R)/.exec(text)?.[1];
  const size = Number(/\/Size (\d+)/.exec(text)?.[1]);
  const prev = Number(/startxref\s+(\d+)\s+%%EOF\s*$/.exec(text)?.[1]);
  if (!root || !size || !prev) throw new Error(`${path}: no classic trailer to extend`);
  const hex = (byte: string) => `<${byte.repeat(32)}>`;
  const object = `${size} 0 obj\n<< /Filter /Standard /V 1 /R 2 /O ${hex('ab')} /U ${hex('cd')} /P -44 >>\nendobj\n`;
  const objectAt = pdf.length;
  const xrefAt = objectAt + object.length;
  const update =
    object +
    `xref\n${size} 1\n${String(objectAt).padStart(10, '0')} 00000 n \n` +
    `trailer\n<< /Size ${size + 1} /Root ${root} /Prev ${prev} /Encrypt ${size} 0 R ` +
    `/ID [<${'12'.repeat(16)}> <${'12'.repeat(16)}>] >>\nstartxref\n${xrefAt}\n%%EOF\n`;
  await writeFile(out, Buffer.concat([pdf, Buffer.from(update, 'latin1')]));
}
